"""Another kernel series of the distribution as a distro tree: Debian 12's 6.12 (from
bookworm-security), so a 25.12-scheme (apk) release builds on a 6.12 kernel offline.

Same shape as the default distro tree (kernel.distro): ``linux-source-<series>`` plus the
``linux-headers-<upstream>+deb12-<flavour>`` of exactly the same Debian version, provisioned
through apt when missing (as root), then compiled out of tree the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.distro import (
    SRC,
    _dpkg_field,
    check_package_versions,
    distro_tree_from,
    flavour_for_machine,
    install_command,
    provision,
)
from kmodkit.kernel.tree import KernelTree, read_version, require_tree_files

Progress = Callable[[str], None]
# series offered besides the distribution's default one
EXTRA_SERIES = ("6.12",)


def headers_package(upstream: str, flavour: str) -> str | None:
    """apt's name of the headers for ``upstream`` (``linux-headers-6.12.117+deb12-amd64``)."""
    if shutil.which("apt-cache") is None:
        return None
    # apt-cache takes POSIX extended regular expressions: no \d
    pattern = rf"^linux-headers-{re.escape(upstream)}(\+deb[0-9]+|-[0-9]+)-{re.escape(flavour)}$"
    result = subprocess.run(
        ["apt-cache", "search", "--names-only", pattern],
        capture_output=True,
        text=True,
        check=False,
    )
    names = sorted(line.split(" - ", 1)[0] for line in result.stdout.splitlines() if line)
    return names[-1] if names else None


def _find_headers(upstream: str, flavour: str, src: Path) -> Path | None:
    found = [
        p
        for p in src.glob(f"linux-headers-{upstream}*-{flavour}")
        if re.fullmatch(rf"linux-headers-{re.escape(upstream)}(\+deb\d+|-\d+)-{flavour}", p.name)
        and (p / ".config").is_file()
    ]
    return sorted(found)[-1] if found else None


def open_series_tree(
    series: str,
    *,
    provision_missing: bool = True,
    progress: Progress | None = None,
    src: Path = SRC,
) -> KernelTree:
    if series not in EXTRA_SERIES:
        raise KernelTreeError(
            f"no distro kernel {series} (offered: 6.1, {', '.join(EXTRA_SERIES)})"
        )
    flavour, pkg_arch = flavour_for_machine()
    tarball = src / f"linux-source-{series}.tar.xz"
    source_pkg = f"linux-source-{series}"
    if not tarball.is_file():
        if not provision_missing:
            raise KernelTreeError(
                f"{tarball} is missing; run as root: {install_command([source_pkg])}"
            )
        provision([source_pkg], progress)
    version = _dpkg_field(source_pkg, "Version")
    if not tarball.is_file() or version is None:
        raise KernelTreeError(f"{source_pkg} installed but {tarball} is missing")
    upstream = version.split("-")[0]
    headers = _find_headers(upstream, flavour, src)
    if headers is None:
        name = headers_package(upstream, flavour)
        if name is None:
            raise KernelTreeError(
                f"no linux-headers-{upstream}*-{flavour} known to apt for {source_pkg} {version}"
            )
        if not provision_missing:
            raise KernelTreeError(f"{name} is missing; run as root: {install_command([name])}")
        provision([name], progress)
        headers = _find_headers(upstream, flavour, src)
        if headers is None:
            raise KernelTreeError(f"{name} installed but no headers tree found in {src}")
    require_tree_files(headers)
    check_package_versions(headers.name, source_pkg)
    return distro_tree_from(headers, tarball, read_version(headers / "Makefile"), pkg_arch)
