"""Read the guest's ``@@KMK`` markers off the serial log and turn them into check results.

The markers are the only protocol between the generated /init and the host; everything else on
the console is kept in the serial log for people to read.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from kmodkit.boottest.init import MARK, PHASES
from kmodkit.verify.model import Findings

_KMSG_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")
UDP_MIN_ECHOED = 0.95  # share of the UDP bytes that must come back for the transfer to pass


@dataclass(frozen=True)
class ModuleLoad:
    package: str
    module: str
    ok: bool
    error: str  # insmod's own complaint


@dataclass(frozen=True)
class Flow:
    phase: str
    proto: str
    sent: int
    received: int
    offloaded: bool
    conntrack: str  # the last /proc/net/nf_conntrack line seen for the flow


@dataclass
class GuestReport:
    started: bool = False
    ended: bool = False
    osrelease: str | None = None
    loads: list[ModuleLoad] = field(default_factory=list)
    kmsg: dict[str, list[str]] = field(default_factory=dict)
    modules_done: bool = False
    net: str | None = None  # "" when the namespaces came up, else why not
    rulesets: dict[str, str] = field(default_factory=dict)  # phase -> "" (ok) or nft's error
    flows: list[Flow] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)  # label -> guest uptime (s)
    last_line: str = ""

    def flow(self, phase: str, proto: str) -> Flow | None:
        return next((f for f in self.flows if f.phase == phase and f.proto == proto), None)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_serial(text: str) -> GuestReport:
    report = GuestReport()
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            report.last_line = line
        if not line.startswith(MARK + " "):
            continue
        words = line[len(MARK) + 1 :].split(" ")
        kind, args = words[0], words[1:]
        rest = " ".join(args)
        if kind == "start":
            report.started = True
        elif kind == "end":
            report.ended = True
        elif kind == "osrelease":
            report.osrelease = rest.strip()
        elif kind in ("mod-ok", "mod-fail") and len(args) >= 2:
            error = " ".join(args[2:]).strip() if kind == "mod-fail" else ""
            report.loads.append(ModuleLoad(args[0], args[1], kind == "mod-ok", error))
        elif kind == "kmsg" and args:
            message = _KMSG_TIME.sub("", " ".join(args[1:])).strip()
            if message:
                report.kmsg.setdefault(args[0], []).append(message)
        elif kind == "modules-done":
            report.modules_done = True
        elif kind == "net-ok":
            report.net = ""
        elif kind == "net-fail":
            report.net = rest.strip() or "network setup failed"
        elif kind == "ruleset-ok" and args:
            report.rulesets[args[0]] = ""
        elif kind == "ruleset-fail" and args:
            report.rulesets[args[0]] = " ".join(args[1:]).strip() or "nft -f failed"
        elif kind == "flow" and len(args) >= 5:
            phase, proto, sent, received, seen = args[:5]
            conntrack = " ".join(" ".join(args[5:]).split())
            report.flows.append(
                Flow(phase, proto, _int(sent), _int(received), seen == "yes", conntrack)
            )
        elif kind == "time" and len(args) >= 2:
            with contextlib.suppress(ValueError):
                report.times[args[0]] = float(args[1])
    return report


def kernel_message(report: GuestReport, module: str) -> str:
    """The kernel's own lines about a failed module (``Unknown symbol ...``), joined."""
    lines = report.kmsg.get(module, [])
    own = [m for m in lines if m.startswith(f"{module}:")] or lines
    return "; ".join(dict.fromkeys(own))


def module_findings(report: GuestReport, packages: list[str], findings: Findings) -> None:
    """boot.modules per package: what loaded, and the kernel's message for what did not."""
    by_package: dict[str, list[ModuleLoad]] = {}
    for load in report.loads:
        by_package.setdefault(load.package, []).append(load)
    for package in packages:
        loads = by_package.get(package, [])
        if not loads:
            if report.modules_done:
                findings.ok("boot.modules", package, "no kernel modules")
            else:
                findings.fail("boot.modules", package, "the guest never got to its modules")
            continue
        loaded = [load.module for load in loads if load.ok]
        if loaded:
            findings.ok("boot.modules", package, f"loaded {' '.join(loaded)}")
        for load in loads:
            if not load.ok:
                said = kernel_message(report, load.module) or load.error or "insmod failed"
                findings.fail("boot.modules", package, f"{load.module} did not load: {said}")


def scenario_findings(report: GuestReport, artifact: str, findings: Findings) -> None:
    """boot.network, boot.ruleset, boot.transfer, boot.offload and boot.control."""
    if report.net is None:
        findings.fail("boot.network", artifact, "the guest never set up its namespaces")
        return
    if report.net:
        findings.fail("boot.network", artifact, f"namespaces/veth setup failed: {report.net}")
        return
    findings.ok("boot.network", artifact, "namespaces client/server joined by veth lan/wan")
    for phase, *_ in PHASES:
        error = report.rulesets.get(phase)
        label = "ruleset" if phase == "offload" else "control ruleset (no flow add)"
        if error is None:
            findings.fail("boot.ruleset", artifact, f"{label} was never loaded")
        elif error:
            findings.fail("boot.ruleset", artifact, f"nft -f rejected the {label}: {error}")
        else:
            findings.ok("boot.ruleset", artifact, f"{label} accepted")
    for phase, *_ in PHASES:
        for proto in ("tcp", "udp"):
            flow = report.flow(phase, proto)
            if flow is None:
                if report.rulesets.get(phase) == "":
                    findings.fail("boot.transfer", artifact, f"{phase} {proto} transfer never ran")
                continue
            _flow_findings(flow, artifact, findings)


def _flow_findings(flow: Flow, artifact: str, findings: Findings) -> None:
    what = f"{flow.phase} {flow.proto.upper()}"
    if flow.received == flow.sent and flow.sent:
        findings.ok("boot.transfer", artifact, f"{what}: {flow.received:,} bytes forwarded")
    elif flow.proto == "udp" and flow.sent and flow.received >= flow.sent * UDP_MIN_ECHOED:
        # UDP may drop a datagram when the emulated guest falls behind; that is no feed fault
        findings.ok(
            "boot.transfer",
            artifact,
            f"{what}: {flow.received:,} of {flow.sent:,} bytes echoed (UDP: some may drop)",
        )
    else:
        findings.fail(
            "boot.transfer", artifact, f"{what}: {flow.received:,} of {flow.sent:,} bytes arrived"
        )
    seen = flow.conntrack or "no conntrack entry seen"
    if flow.phase == "offload":
        if flow.offloaded:
            findings.ok("boot.offload", artifact, f"{flow.proto.upper()} flow [OFFLOAD]: {seen}")
        else:
            findings.fail(
                "boot.offload", artifact, f"{flow.proto.upper()} flow never [OFFLOAD]: {seen}"
            )
    elif flow.offloaded:
        findings.fail(
            "boot.control",
            artifact,
            f"{flow.proto.upper()} flow offloaded without flow add: {seen}",
        )
    elif not flow.conntrack:
        findings.fail(
            "boot.control", artifact, f"{flow.proto.upper()} flow never reached conntrack"
        )
    else:
        findings.ok(
            "boot.control", artifact, f"{flow.proto.upper()} flow not offloaded without flow add"
        )
