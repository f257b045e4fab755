"""Run a guest with QEMU: ``-kernel`` + ``-initrd``, console on a serial log, hard timeout.

The guest runs in its own process group; on timeout the whole group is killed (SIGKILL) and
reaped, so no qemu process outlives a run. KVM is used when it works: a KVM guest that shows
no sign of life (the init's first marker) within a short probe time is killed and the run is
repeated under TCG, and the result says which accelerator ran and why.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kmodkit.errors import KernelTreeError

Accel = Literal["kvm", "tcg"]
KVM_PROBE_SECONDS = 8.0
ALIVE_MARK = b"@@KMK start"


@dataclass(frozen=True)
class Machine:
    qemu: str
    args: tuple[str, ...]
    console: str
    package: str  # the Debian package that provides ``qemu``


MACHINES: dict[str, Machine] = {
    "x86_64": Machine("qemu-system-x86_64", ("-M", "pc"), "ttyS0", "qemu-system-x86"),
    "aarch64": Machine("qemu-system-aarch64", ("-M", "virt"), "ttyAMA0", "qemu-system-arm"),
}


@dataclass(frozen=True)
class GuestRun:
    accel: Accel
    seconds: float
    log: Path
    timed_out: bool
    exit_status: int | None
    note: str  # why this accelerator (KVM probe outcome)

    def serial(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


_kvm_verdict: dict[str, str] = {}  # machine -> "" (works) or the reason it does not


def machine_for(arch: str) -> Machine:
    if arch not in MACHINES:
        raise KernelTreeError(f"no QEMU machine known for {arch} (have {', '.join(MACHINES)})")
    machine = MACHINES[arch]
    if shutil.which(machine.qemu) is None:
        raise KernelTreeError(
            f"{machine.qemu} not found; install it: apt-get install -y {machine.package}"
        )
    return machine


def qemu_command(
    machine: Machine, accel: Accel, kernel: Path, initrd: Path, log: Path, memory_mb: int = 512
) -> list[str]:
    cpu = "host" if accel == "kvm" else "max"
    append = f"console={machine.console} quiet panic=-1 rdinit=/init"
    return [
        machine.qemu,
        *machine.args,
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-m",
        str(memory_mb),
        "-smp",
        "1",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        f"file:{log}",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        append,
    ]


def kvm_usable(arch: str) -> str:
    """ "" when /dev/kvm can run this arch's guests, else why not (before any probe boot)."""
    host = os.uname().machine
    if host != arch:
        return f"host is {host}"
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible"
    return _kvm_verdict.get(arch, "")


def load_verdicts(path: Path | None) -> None:
    """Reuse an earlier run's KVM verdict for this host kernel and QEMU (saves a probe boot)."""
    if path is None or not path.is_file():
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        saved = json.loads(path.read_text())
        if saved.get("host") == _host_key():
            for arch, reason in saved.get("verdicts", {}).items():
                _kvm_verdict.setdefault(str(arch), str(reason))


def save_verdicts(path: Path | None) -> None:
    if path is None or not _kvm_verdict:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"host": _host_key(), "verdicts": _kvm_verdict}, indent=1))
        os.replace(tmp, path)


def _host_key() -> str:
    qemu_bins = [shutil.which(m.qemu) for m in MACHINES.values()]
    stamps = [f"{b}:{os.stat(b).st_mtime_ns}" for b in qemu_bins if b]
    return " ".join([os.uname().release, *stamps])


def _run(
    command: list[str], log: Path, timeout: float, alive_within: float | None
) -> tuple[bool, int | None, bool, float]:
    """(timed_out, exit status, showed life, seconds); the process group never outlives this."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    stderr_path = log.with_suffix(".qemu-stderr")
    start = time.monotonic()
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            alive = False
            while True:
                try:
                    status = proc.wait(timeout=0.2)
                    return False, status, alive or _alive(log), time.monotonic() - start
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.monotonic() - start
                if not alive:
                    alive = _alive(log)
                    if alive_within is not None and not alive and elapsed > alive_within:
                        return True, None, False, elapsed
                if elapsed > timeout:
                    return True, None, alive, elapsed
        finally:
            kill_group(proc)


def _alive(log: Path) -> bool:
    with contextlib.suppress(OSError), log.open("rb") as fh:
        return ALIVE_MARK in fh.read(1 << 20)
    return False


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the guest's whole process group and reap the leader."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything the leader left in its group


def qemu_stderr(log: Path) -> str:
    path = log.with_suffix(".qemu-stderr")
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return " | ".join(text.splitlines()[-3:])


def boot(
    arch: str,
    kernel: Path,
    initrd: Path,
    log: Path,
    *,
    timeout: float,
    accel: Accel | None = None,
) -> GuestRun:
    """Boot once; with KVM first (unless told or known not to) and TCG as the fallback."""
    machine = machine_for(arch)
    forced = accel or _forced_accel()
    why_not = kvm_usable(arch)
    note = ""
    if forced == "tcg":
        note = "TCG (asked for)"
    elif why_not:
        note = f"TCG (KVM not usable: {why_not})"
    else:
        command = qemu_command(machine, "kvm", kernel, initrd, log)
        probe = None if forced == "kvm" else min(KVM_PROBE_SECONDS, timeout)
        timed_out, status, alive, seconds = _run(command, log, timeout, probe)
        if alive or forced == "kvm":
            _kvm_verdict[arch] = ""
            return GuestRun("kvm", seconds, log, timed_out, status, "KVM")
        reason = (
            f"KVM guest showed no sign of life within {probe:.0f} s"
            if timed_out
            else f"KVM guest exited ({status}) before its init ran: {qemu_stderr(log)}"
        )
        _kvm_verdict[arch] = reason
        note = f"TCG (fallback: {reason})"
    command = qemu_command(machine, "tcg", kernel, initrd, log)
    timed_out, status, _alive_seen, seconds = _run(command, log, timeout, None)
    return GuestRun("tcg", seconds, log, timed_out, status, note)


def _forced_accel() -> Accel | None:
    value = os.environ.get("KMODKIT_BOOTTEST_ACCEL", "").lower()
    if value in ("kvm", "tcg"):
        return value  # type: ignore[return-value]
    return None
