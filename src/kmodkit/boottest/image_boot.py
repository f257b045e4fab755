"""Boot an official OpenWrt image and install the feed with the image's own opkg or apk.

The image (kernel + ext4 rootfs, fetched and verified by kmodkit.sdk.images) boots under QEMU
with its console on stdio and user-mode networking; kmodkit.boottest.console drives it. Steps:
log in, DHCP on lan, install the scenario's tools from the official feeds, switch to the
local feed (served on 127.0.0.1, the guest's 10.0.2.2), install every package, check each
installed .ko is the feed's, reboot (kmodloader loads the new modules), run the scenario.
Results use the Debian path's check ids and parser.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kmodkit import resources
from kmodkit.boottest import image_plan, qemu, results
from kmodkit.boottest.console import Console, ConsoleTimeout
from kmodkit.boottest.feed import Feed, read_feed
from kmodkit.boottest.provision import ensure_packages
from kmodkit.boottest.runner import (
    BootReport,
    TargetRun,
    feed_release,
    load_inputs,
    machine_arch,
    phases,
)
from kmodkit.errors import UsageError
from kmodkit.fsutil import atomic_write_text
from kmodkit.sdk.fetch import FetchOptions
from kmodkit.sdk.images import FetchedImage, fetch_image
from kmodkit.sdk.mirror import KernelInfo
from kmodkit.verify.model import Findings, VerifyReport

Progress = Callable[[str], None]
IMAGE_ARCH = {"x86/64": "x86_64", "armsr/armv8": "aarch64"}
BOOT_SECONDS = 180.0  # from QEMU start to the console prompt, under TCG


def gunzip_to(source: Path, out: Path) -> None:
    """One gzip member, streamed; trailing bytes (OpenWrt's appended metadata) are ignored."""
    inflater = zlib.decompressobj(31)
    with source.open("rb") as src, out.open("wb") as dst:
        while chunk := src.read(1 << 20):
            if inflater.eof:
                break
            dst.write(inflater.decompress(chunk))
        dst.write(inflater.flush())


def image_command(machine: qemu.Machine, accel: str, kernel: Path, rootfs: Path) -> list[str]:
    append = f"root=/dev/vda rootfstype=ext4 rootwait console={machine.console} noinitrd"
    return [
        machine.qemu,
        *machine.args,
        "-accel",
        accel,
        "-cpu",
        "host" if accel == "kvm" else "max",
        "-m",
        "512",
        "-smp",
        "1",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-kernel",
        str(kernel),
        "-append",
        append,
        "-drive",
        f"file={rootfs},format=raw,if=virtio",
        "-netdev",
        "user,id=lan",
        "-device",
        "virtio-net-pci,netdev=lan",
    ]


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[int]:
    """A static HTTP server on 127.0.0.1 (an OS-chosen port) for the guest's package manager."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def identity_findings(feed: Feed, linux: KernelInfo, findings: Findings) -> None:
    """boot.identity: each ``kernel (=<version>~<vermagic>-r<n>)`` against profiles.json."""
    for pkg in feed.packages:
        dep = pkg.kernel_dependency()
        if dep is None:
            continue
        version, _, rest = dep.partition("~")
        digest = rest.rsplit("-", 1)[0]
        if version != linux.version or digest != linux.vermagic:
            findings.fail(
                "boot.identity",
                pkg.name,
                f"depends on kernel (={dep}) but the image's kernel is {linux.version}~"
                f"{linux.vermagic} (profiles.json)",
            )
        else:
            findings.ok("boot.identity", pkg.name, f"kernel (={dep}) is the image's")


@dataclass
class _Step:
    """The check a console timeout fails, moved along as the run proceeds."""

    check: str = "boot.kernel"


def run_image_target(
    target_dir: Path,
    image: FetchedImage,
    ruleset: str,
    timeout: float,
    findings: Findings,
    say: Progress,
    accel: str = "tcg",
    keep_logs: Path | None = None,
) -> TargetRun:
    feed = read_feed(target_dir)
    arch = machine_arch(feed.packages[0].arch)
    if IMAGE_ARCH.get(image.target) != arch:
        raise UsageError(
            f"{target_dir}: a {arch} feed cannot be installed on the {image.target} image"
        )
    label = f"{image.release}/{image.target}"
    release = feed_release(feed)
    run = TargetRun(label, release)
    findings.ok(
        "boot.image",
        label,
        f"{image.files.kernel} + {image.files.rootfs} (sha256 from the usign-verified "
        f"sha256sums of {image.mirror})",
    )
    identity_findings(feed, image.linux, findings)
    keys = image_plan.read_keys(feed)
    script = image_plan.scenario_script(feed, release)
    machine = qemu.machine_for(arch)
    with tempfile.TemporaryDirectory(prefix="boottest-image.") as tmp_name:
        tmp = Path(tmp_name)
        www = tmp / "www"
        for rel, data in image_plan.served_files(feed, keys, script, ruleset).items():
            (www / rel).parent.mkdir(parents=True, exist_ok=True)
            (www / rel).write_bytes(data)
        rootfs = tmp / "rootfs.img"  # a private copy: the cached image stays pristine
        say(f"{label}: unpacking {image.files.rootfs}")
        gunzip_to(image.rootfs_gz, rootfs)
        log = tmp / "console.log"
        start = time.monotonic()
        with serve_directory(www) as port:
            command = image_command(machine, accel, image.kernel, rootfs)
            step = _Step()
            with Console(command, log) as console:
                try:
                    _drive(
                        console,
                        feed,
                        keys,
                        f"http://{image_plan.HOST}:{port}",
                        timeout,
                        start,
                        step,
                        findings,
                        label,
                        say,
                    )
                except ConsoleTimeout as exc:
                    findings.fail(step.check, label, exc.message)
        run.seconds = time.monotonic() - start
        run.accel, run.accel_note = accel, accel.upper()
        run.serial = console.transcript
        logs_dir = keep_logs or resources.cache_dir() / "logs" / "boottest-image"
        atomic_write_text(logs_dir / label / "serial.log", run.serial)
        atomic_write_text(logs_dir / label / "scenario.sh", script)
        run.serial_log = logs_dir / label / "serial.log"
    report = results.parse_serial(run.serial)
    run.guest_times = report.times
    if report.started:
        if report.osrelease != release:
            findings.fail("boot.kernel", label, f"guest runs {report.osrelease}, feed is {release}")
        else:
            findings.ok("boot.kernel", label, f"booted {release} ({accel.upper()}), reinstalled")
        results.module_findings(report, [p.name for p in feed.packages], findings)
        if report.modules_done:
            results.scenario_findings(report, label, findings)
    return run


def _drive(
    console: Console,
    feed: Feed,
    keys: image_plan.FeedKeys,
    base_url: str,
    timeout: float,
    start: float,
    step: _Step,
    findings: Findings,
    label: str,
    say: Progress,
) -> None:
    def left() -> float:
        return max(1.0, timeout - (time.monotonic() - start))

    def must(command: str, check: str) -> bool:
        result = console.run(command, left())
        if result.status != 0:
            tail = " | ".join(result.output.splitlines()[-3:]) or "(no output)"
            findings.fail(check, label, f"`{command}` exited {result.status}: {tail}")
            return False
        return True

    say(f"{label}: booting the image")
    console.login(min(BOOT_SECONDS, left()))
    findings.ok("boot.kernel", label, "the image booted to its console shell")
    step.check = "boot.install"
    say(f"{label}: network and tools from the official feeds")
    for command in (*image_plan.NETWORK_UP, *image_plan.tool_commands(feed.kind)):
        if not must(command, "boot.install"):
            return
    say(f"{label}: installing the feed with the image's {'opkg' if feed.kind == 'ipk' else 'apk'}")
    names = [p.name for p in feed.packages]
    for command in image_plan.feed_commands(feed.kind, base_url, keys, names):
        if not must(command, "boot.install"):
            return
    check, wanted = image_plan.installed_check(feed)
    bad = image_plan.installed_mismatches(console.run(check, left()).output, wanted)
    if bad:
        findings.fail("boot.install", label, "; ".join(bad))
        return
    findings.ok(
        "boot.install",
        label,
        f"{len(names)} packages installed from the local feed "
        f"({len(wanted)} modules are the feed's build)",
    )
    say(f"{label}: rebooting so kmodloader loads the feed's modules")
    console.send("sync; reboot\n")
    step.check = "boot.kernel"
    console.login(min(BOOT_SECONDS, left()))
    step.check = "boot.transfer"
    for command in image_plan.scenario_commands(base_url):
        if not must(command, "boot.install"):
            return
    say(f"{label}: running the scenario")
    console.run(image_plan.RUN_SCENARIO, left())
    console.send("poweroff\n")


@dataclass(frozen=True)
class ImageBootOptions:
    path: Path
    fetch: FetchOptions  # release, target, mirrors, keys: as for the SDK
    timeout: float = 900.0
    keep_logs: Path | None = None
    ruleset: Path | None = None


def run_image_boottest(options: ImageBootOptions, progress: Progress | None = None) -> BootReport:
    """Fetch the release's image for the target, then boot-test every feed under ``path``."""
    say = progress or (lambda _msg: None)
    ruleset, targets = load_inputs(options.path, options.ruleset)
    image = fetch_image(options.fetch, say=say)
    arch = IMAGE_ARCH.get(image.target)
    if arch is None:
        raise UsageError(
            f"no QEMU machine for the {image.target} image (have {', '.join(IMAGE_ARCH)})"
        )
    ensure_packages({qemu.MACHINES[arch].qemu: qemu.MACHINES[arch].package}, say)
    accel = "kvm" if os.environ.get("KMODKIT_BOOTTEST_ACCEL", "").lower() == "kvm" else "tcg"
    findings = Findings()
    runs = [
        run_image_target(
            t, image, ruleset, options.timeout, findings, say, accel, options.keep_logs
        )
        for t in targets
    ]
    notes = [
        f"{r.label}: official image under {r.accel_note}; {phases(r)} (modules loaded by "
        "kmodloader at boot are reported loaded)"
        for r in runs
    ]
    return BootReport(VerifyReport(results=findings.results(), notes=notes), runs)
