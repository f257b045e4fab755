"""One boot test: feed -> identity checks -> initramfs -> QEMU -> results.

For each target directory of the input (a dist target, or a tree holding several), the feed's
packages are installed into an initramfs with busybox, nft, ip and socat; the exact kernel the
feed targets boots it under QEMU; the results say, per check id, what the guest proved.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kmodkit import resources
from kmodkit.boottest import init as guest_init
from kmodkit.boottest import qemu, results
from kmodkit.boottest.feed import Feed, find_feeds, install, load_plan, modules_of, read_feed
from kmodkit.boottest.initramfs import Initramfs, build_initramfs
from kmodkit.boottest.kernel_image import (
    KernelImage,
    archive_boot_files,
    distro_kernel_image,
    given_kernel_image,
)
from kmodkit.boottest.provision import ensure_packages
from kmodkit.boottest.userland import GUEST_PATHS, TOOL_PACKAGES, add_userland
from kmodkit.errors import UsageError
from kmodkit.fsutil import atomic_write_bytes, atomic_write_text
from kmodkit.verify.model import Findings, VerifyReport

Progress = Callable[[str], None]
DEBIAN_RELEASE = re.compile(
    r"^\d+\.\d+\.\d+(-\d+|\+deb\d+)-(amd64|arm64|cloud-amd64|cloud-arm64|rt-amd64|rt-arm64)$"
)
TOOLS = ("busybox", "nft", "ip", "socat")
ARCHES = (("x86_64", "x86_64"), ("aarch64", "aarch64"))


@dataclass(frozen=True)
class BootOptions:
    path: Path
    kernel_image: Path | None = None
    timeout: float = 300.0
    keep_logs: Path | None = None
    ruleset: Path | None = None
    scenario: bool = True
    accel: qemu.Accel | None = None
    label: str | None = None  # name of the target in results and logs (default: from path)


@dataclass
class TargetRun:
    """What one target's boot showed, besides its check results."""

    label: str
    release: str
    accel: str = ""
    accel_note: str = ""
    seconds: float = 0.0
    serial_log: Path | None = None
    serial: str = ""  # the console output itself (the log file may be replaced by a later run)
    guest_times: dict[str, float] = field(default_factory=dict)
    note: str = ""  # what this run could not test, and why


@dataclass
class BootReport:
    report: VerifyReport
    runs: list[TargetRun]


def target_label(target_dir: Path, root: Path) -> str:
    """The target's path below the given one (``6.1.0-50-amd64/x86/64``), else its last two."""
    if target_dir != root and target_dir.is_relative_to(root):
        return target_dir.relative_to(root).as_posix()
    return f"{target_dir.parent.name}/{target_dir.name}"


def machine_arch(pkg_arch: str) -> str:
    for prefix, arch in ARCHES:
        if pkg_arch == prefix or pkg_arch.startswith(prefix + "_"):
            return arch
    raise UsageError(f"no QEMU machine for package architecture {pkg_arch!r} (x86_64, aarch64)")


def feed_release(feed: Feed) -> str:
    """The ``uname -r`` the feed's modules are installed for (lib/modules/<release>/)."""
    releases = sorted(
        {
            PurePosixPath(e.path).parts[2]
            for p in feed.packages
            for e in p.entries
            if e.path.startswith("lib/modules/") and e.path.endswith(".ko")
        }
    )
    if len(releases) != 1:
        raise UsageError(f"{feed.root}: modules for {len(releases)} kernels ({releases})")
    return releases[0]


def installed_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = result.stdout.partition(" ")
    return version.strip() if result.returncode == 0 and status == "installed" else None


def kernel_for(feed: Feed, release: str, options: BootOptions, progress: Progress) -> KernelImage:
    cache = resources.cache_dir()
    if options.kernel_image is not None:
        return given_kernel_image(options.kernel_image, cache)
    if not DEBIAN_RELEASE.match(release):
        raise UsageError(
            f"{feed.root}: modules are for kernel {release}, not a Debian kernel; "
            "pass --kernel-image, or --release R to boot the official OpenWrt image"
        )
    version = installed_version(f"linux-headers-{release}")
    return distro_kernel_image(release, version, cache, progress)


def identity_findings(feed: Feed, image: KernelImage, label: str, findings: Findings) -> None:
    """boot.identity: the feed's kernel (=...) dependency and vermagic against the image."""
    hashes = image.config_hashes()
    for pkg in feed.packages:
        dep = pkg.kernel_dependency()
        if dep is None:
            continue
        version, _, rest = dep.partition("~")
        digest = rest.rsplit("-", 1)[0]
        if version != image.version:
            findings.fail(
                "boot.identity",
                pkg.name,
                f"depends on kernel (={dep}) but the image is Linux {image.version}",
            )
        elif hashes and digest not in hashes:
            findings.fail(
                "boot.identity",
                pkg.name,
                f"depends on kernel (={dep}) but the image's config hashes to "
                f"{image.vermagic_hash}",
            )
        else:
            how = f" ({hashes[digest]})" if digest in hashes else ""
            findings.ok("boot.identity", pkg.name, f"kernel (={dep}) is the image's{how}")
    vermagic = image.vermagic
    for name, module in sorted(modules_of(feed).items()):
        if vermagic and module.info.vermagic != vermagic:
            findings.fail(
                "boot.identity",
                module.package,
                f"{name}.ko vermagic {module.info.vermagic!r}, the image wants {vermagic!r}",
            )
        elif PurePosixPath(module.path).parts[2] != image.release:
            findings.fail(
                "boot.identity",
                module.package,
                f"{module.path} is not below lib/modules/{image.release}/",
            )


def build_image(
    feed: Feed,
    image: KernelImage,
    arch: str,
    ruleset: str,
    scenario: bool,
    findings: Findings,
    label: str,
    busybox: Path | None = None,
) -> tuple[bytes, str]:
    """The initramfs bytes and its /init text (deterministic for the same inputs)."""
    root = Initramfs()
    missing = install(feed, root)
    for line in missing:
        findings.fail("boot.install", label, line)
    if not missing:
        findings.ok("boot.install", label, f"{len(feed.packages)} packages installed")
    if busybox is not None:  # a foreign architecture's static busybox, modules only
        root.file("bin/busybox", busybox.read_bytes(), 0o755, where=str(busybox))
    else:
        add_userland(root, arch, TOOLS if scenario else ("busybox",))
    for directory in ("proc", "sys", "dev", "run", "tmp", "var", "etc/kmodkit"):
        root.dir(directory)
    root.chardev("dev/console", 5, 1)
    kernel_modules = []
    for name, path in sorted(image.modules.items()):
        guest = f"lib/modules/{image.release}/kernel/{name}.ko"
        root.file(guest, path.read_bytes())
        kernel_modules.append((name, "/" + guest))
    root.file("etc/kmodkit/ruleset.nft", ruleset.encode())
    root.file("etc/kmodkit/control.nft", guest_init.control_ruleset(ruleset).encode())
    plan, _unknown = load_plan(feed)
    script = guest_init.render_init(
        guest_init.InitOptions(image.release, plan, kernel_modules, scenario)
    )
    root.file("init", script.encode(), 0o755)
    return build_initramfs(root), script


def run_target(
    target_dir: Path, options: BootOptions, ruleset: str, findings: Findings, say: Progress
) -> TargetRun:
    feed = read_feed(target_dir)
    arch = machine_arch(feed.packages[0].arch)
    release = feed_release(feed)
    label = options.label or target_label(target_dir, options.path)
    run = TargetRun(label, release)
    say(f"{label}: kernel {release}")
    scenario, busybox = options.scenario, None
    if arch == os.uname().machine or options.kernel_image is not None:
        image = kernel_for(feed, release, options, say)
    else:
        # A foreign architecture: its kernel and busybox from Debian's signed archive. Its nft,
        # ip and socat would need their whole arm64 library closure: modules only, said so.
        version = next((d.split("~")[0] for p in feed.packages if (d := p.kernel_dependency())), "")
        image, busybox = archive_boot_files(release, version, arch, resources.cache_dir(), say)
        scenario = False
        run.note = f"{arch}: module loading only (no {arch} nft/ip/socat userland in the guest)"
    findings.ok("boot.image", label, f"{image.source}: {image.image.name}")
    identity_findings(feed, image, label, findings)
    say(f"{label}: building the initramfs")
    initrd, script = build_image(
        feed, image, arch, ruleset, scenario, findings, label, busybox=busybox
    )
    logs = resources.cache_dir() / "logs" / "boottest" / label
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="boottest.") as tmp:
        initrd_path = Path(tmp) / "initramfs.cpio.gz"
        initrd_path.write_bytes(initrd)
        say(f"{label}: booting {image.release} (timeout {options.timeout:.0f} s)")
        guest = qemu.boot(
            arch,
            image.image,
            initrd_path,
            Path(tmp) / "serial.log",  # private: concurrent runs share the cache's logs/
            timeout=options.timeout,
            accel=options.accel,
        )
        serial = guest.serial()
        # the last finished run's log, whole (written through a temporary file and renamed)
        atomic_write_text(logs / "serial.log", serial)
        run.serial_log = logs / "serial.log"
        if options.keep_logs is not None:
            keep = options.keep_logs / label
            atomic_write_bytes(keep / "initramfs.cpio.gz", initrd)
            atomic_write_text(keep / "init", script)
            atomic_write_text(keep / "serial.log", serial)
            run.serial_log = keep / "serial.log"
    run.accel, run.accel_note, run.seconds = guest.accel, guest.note, guest.seconds
    run.serial = serial
    report = results.parse_serial(serial)
    run.guest_times = report.times
    kernel_findings(report, guest, image, label, options.timeout, findings)
    results.module_findings(report, [p.name for p in feed.packages], findings)
    if scenario and report.modules_done:
        results.scenario_findings(report, label, findings)
    return run


def kernel_findings(
    report: results.GuestReport,
    guest: qemu.GuestRun,
    image: KernelImage,
    label: str,
    timeout: float,
    findings: Findings,
) -> None:
    last = report.last_line or "(no console output)"
    if guest.timed_out:
        findings.fail(
            "boot.kernel",
            label,
            f"guest killed at --timeout {timeout:g} s ({guest.accel}); last console line: {last}",
        )
    elif not report.started:
        findings.fail("boot.kernel", label, f"the kernel never ran /init; last console: {last}")
    elif report.osrelease != image.release:
        findings.fail(
            "boot.kernel", label, f"guest runs {report.osrelease}, expected {image.release}"
        )
    elif not report.ended:
        findings.fail("boot.kernel", label, f"/init stopped before its end; last line: {last}")
    else:
        findings.ok(
            "boot.kernel",
            label,
            f"booted {image.release} ({guest.note}) in {guest.seconds:.1f} s",
        )


def phases(run: TargetRun) -> str:
    """``boot test 31.2 s (kernel to /init 3.6 s, modules 0.7 s, ...)`` from the guest stamps."""
    t = run.guest_times
    text = f"boot test took {run.seconds:.1f} s"
    marks = [("kernel to /init", "init"), ("modules", "modules"), ("namespaces", "net")]
    marks += [("control", "control"), ("offload", "offload")]
    parts, before = [], 0.0
    for label, key in marks:
        if key in t:
            parts.append(f"{label} {t[key] - before:.1f} s")
            before = t[key]
    return f"{text} ({', '.join(parts)})" if parts else text


def load_ruleset(path: Path | None) -> str:
    """``--ruleset``'s text (it must have a ``flow add``), else the default scenario's."""
    if path is None:
        return guest_init.DEFAULT_RULESET
    try:
        ruleset = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--ruleset {path}: cannot read ({exc})") from None
    if not guest_init.has_flow_statement(ruleset):
        raise UsageError(f"--ruleset {path}: no `flow add @<flowtable>` statement to test")
    return ruleset


def load_inputs(path: Path, ruleset_file: Path | None) -> tuple[str, list[Path]]:
    """The ruleset to test and the feeds below ``path``: read before anything boots."""
    ruleset = load_ruleset(ruleset_file)
    targets = find_feeds(path)
    if not targets:
        raise UsageError(f"{path}: no ipk/Packages or apk/packages.adb below it")
    return ruleset, targets


def run_boottest(options: BootOptions, progress: Progress | None = None) -> BootReport:
    say = progress or (lambda _msg: None)
    ruleset, targets = load_inputs(options.path, options.ruleset)
    wanted = {f"/{GUEST_PATHS[t]}": TOOL_PACKAGES[t] for t in TOOLS}
    for arch in sorted({machine_arch(read_feed(t).packages[0].arch) for t in targets}):
        wanted[qemu.MACHINES[arch].qemu] = qemu.MACHINES[arch].package
    ensure_packages(wanted, say)
    findings = Findings()
    verdicts = resources.cache_dir() / "boottest" / "kvm-verdict.json"
    qemu.load_verdicts(verdicts)
    try:
        runs = [run_target(t, options, ruleset, findings, say) for t in targets]
    finally:
        qemu.save_verdicts(verdicts)
    notes = [f"{r.label}: {r.release} under {r.accel_note}; {phases(r)}" for r in runs if r.accel]
    notes += [f"{r.label}: {r.note}" for r in runs if r.note]
    return BootReport(VerifyReport(results=findings.results(), notes=notes), runs)
