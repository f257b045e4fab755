"""The distro provider: Debian's linux-headers-<flavour> tree plus its linux-source tarball.

Offline once provisioned. On a fresh machine it installs the two packages itself when running
as root (``apt-get install``, after ``apt-get update`` when apt does not know them); otherwise it
stops with the exact command to run.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.sources import source_cache_root
from kmodkit.kernel.tree import (
    KernelTree,
    karch_from_config,
    parse_config,
    read_builtin,
    read_release,
    read_version,
    require_tree_files,
    tree_identity,
)
from kmodkit.kernel.vermagic import kernel_vermagic, openwrt_vermagic_hash

Progress = Callable[[str], None]
CompletedText = subprocess.CompletedProcess[str]
SRC = Path("/usr/src")

# Debian architecture -> (kernel flavour, OpenWrt package arch or None)
FLAVOURS: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", "x86_64"),
    "aarch64": ("arm64", None),
}


def flavour_for_machine(machine: str | None = None) -> tuple[str, str | None]:
    machine = machine or platform.machine()
    if machine not in FLAVOURS:
        raise KernelTreeError(
            f"no Debian kernel flavour known for machine {machine!r}; "
            "use --kernel-dir or --sdk instead"
        )
    return FLAVOURS[machine]


def _dpkg_field(package: str, field: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", f"${{db:Status-Status}} ${{{field}}}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, value = result.stdout.partition(" ")
    return value.strip() if result.returncode == 0 and status == "installed" else None


def find_headers(flavour: str, src: Path = SRC) -> Path | None:
    """The headers tree the ``linux-headers-<flavour>`` metapackage points at, else the newest."""
    depends = _dpkg_field(f"linux-headers-{flavour}", "Depends") or ""
    match = re.search(rf"linux-headers-(\S+-{re.escape(flavour)})\b", depends)
    if match and (src / f"linux-headers-{match.group(1)}").is_dir():
        return src / f"linux-headers-{match.group(1)}"
    candidates = [p for p in src.glob(f"linux-headers-*-{flavour}") if (p / ".config").is_file()]

    def release_key(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.name))

    return max(candidates, key=release_key) if candidates else None


# apt waits this long for another apt/dpkg to release the dpkg lock instead of failing at once.
APT_LOCK_TIMEOUT = 600
DPKG_FRONTEND_LOCK = Path("/var/lib/dpkg/lock-frontend")


def install_command(packages: list[str]) -> str:
    return f"apt-get install -y {' '.join(packages)}"


def apt_get(args: list[str]) -> list[str]:
    """An apt-get command line that waits for the dpkg lock (DPkg::Lock::Timeout)."""
    return ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}", *args]


def dpkg_lock_busy(lock: Path = DPKG_FRONTEND_LOCK) -> bool:
    """True while another apt/dpkg holds the frontend lock (dpkg's own fcntl lock)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def _run_apt(args: list[str], env: dict[str, str], progress: Progress | None) -> CompletedText:
    if progress:
        progress(f"provisioning: apt-get {' '.join(args)}")
        if dpkg_lock_busy():
            progress(
                f"provisioning: another apt/dpkg holds the dpkg lock; waiting for it "
                f"(up to {APT_LOCK_TIMEOUT} s)"
            )
    return subprocess.run(apt_get(args), capture_output=True, text=True, env=env, check=False)


def provision(packages: list[str], progress: Progress | None) -> None:
    """Install Debian packages as root (refresh the lists once if apt does not know them)."""
    command = install_command(packages)
    if os.geteuid() != 0:
        raise KernelTreeError(
            f"kernel headers/sources are not installed; run as root: {command} "
            "(after `apt-get update` if the packages are unknown)"
        )
    if shutil.which("apt-get") is None:
        raise KernelTreeError(f"apt-get not found; install the kernel packages: {command}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (1, 2):
        result = _run_apt(["install", "-y", *packages], env, progress)
        if result.returncode == 0:
            return
        if attempt == 1 and "Unable to locate package" in result.stderr + result.stdout:
            _run_apt(["update"], env, progress)
            continue
        break
    tail = (result.stderr.strip().splitlines() or ["apt-get failed"])[-1]
    if "lock" in tail.lower():
        tail += f" (still locked after {APT_LOCK_TIMEOUT} s)"
    raise KernelTreeError(f"`{command}` failed: {tail}")


def open_distro_tree(
    *, provision_missing: bool = True, progress: Progress | None = None, src: Path = SRC
) -> KernelTree:
    flavour, pkg_arch = flavour_for_machine()
    headers = find_headers(flavour, src)
    if headers is None:
        wanted = [f"linux-headers-{flavour}"]
        if not provision_missing:
            raise KernelTreeError(
                f"no /usr/src/linux-headers-*-{flavour}; run as root: {install_command(wanted)}"
            )
        provision(wanted, progress)
        headers = find_headers(flavour, src)
        if headers is None:
            raise KernelTreeError(f"{wanted[0]} installed but no headers tree found in {src}")
    require_tree_files(headers)
    version = read_version(headers / "Makefile")
    series = ".".join(version.split(".")[:2])
    tarball = src / f"linux-source-{series}.tar.xz"
    if not tarball.is_file():
        wanted = [f"linux-source-{series}"]
        if not provision_missing:
            raise KernelTreeError(f"{tarball} is missing; run as root: {install_command(wanted)}")
        provision(wanted, progress)
        if not tarball.is_file():
            raise KernelTreeError(f"linux-source-{series} installed but {tarball} is missing")
    check_package_versions(headers.name, f"linux-source-{series}")
    return distro_tree_from(headers, tarball, version, pkg_arch)


def check_package_versions(headers_pkg: str, source_pkg: str) -> None:
    """Debian package versions of headers and sources must agree (6.1.192-2 == 6.1.192-2)."""
    headers_version = _dpkg_field(headers_pkg, "Version")
    source_version = _dpkg_field(source_pkg, "Version")
    if headers_version and source_version and headers_version != source_version:
        raise KernelTreeError(
            f"{source_pkg} is version {source_version} but {headers_pkg} is {headers_version}; "
            f"install matching versions: {install_command([headers_pkg, source_pkg])}"
        )


def _kernel_variables(headers: Path) -> dict[str, str]:
    path = headers / ".kernelvariables"
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            match = re.match(r"^(?:override\s+)?([A-Z_]+)\s*[:?]?=\s*(.*)$", line.strip())
            if match:
                values.setdefault(match.group(1), match.group(2).strip())
    return values


def distro_tree_from(
    headers: Path, tarball: Path, version: str, pkg_arch: str | None
) -> KernelTree:
    config_bytes = (headers / ".config").read_bytes()
    config = parse_config(config_bytes.decode("utf-8", "replace"))
    release = read_release(headers)
    variables = _kernel_variables(headers)
    arch = variables.get("ARCH") or karch_from_config(config) or "x86"
    # Debian names its compiler in .kernelvariables: "$(CROSS_COMPILE)gcc-12".
    cc_match = re.search(r"\$\(CROSS_COMPILE\)(\S+)", variables.get("CC", ""))
    symvers = headers / "Module.symvers"
    return KernelTree(
        provider="distro",
        release=release,
        version=version,
        arch=arch,
        pkg_arch=pkg_arch,
        cross_compile="",
        build_dir=headers,
        config=config,
        symvers_path=symvers,
        builtin_modules=read_builtin(headers),
        modules_dir=None,
        source_root=source_cache_root(tarball, version) / tarball.name.split(".tar")[0],
        vermagic_hash=openwrt_vermagic_hash(config_bytes),
        vermagic=kernel_vermagic(release, config),
        identity=tree_identity(release, config_bytes, symvers),
        cc=cc_match.group(1) if cc_match else "gcc",
        source_tarball=tarball,
        config_path=headers / ".config",
    )
