"""KernelTree: everything kmodkit needs to know about one kernel build, whatever provided it.

Providers (distro, sdk, path) fill it in; the build pipeline, kbuild and verify only read it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.kconfig_file import parse_kconfig as parse_config

__all__ = ["KernelTree", "parse_config"]

Provider = Literal["distro", "sdk", "path"]

# Kbuild ARCH for an OpenWrt/uname machine name (facts §3).
KARCH_BY_MACHINE = {
    "x86_64": "x86",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm": "arm",
    "mips": "mips",
    "mipsel": "mips",
    "mips64": "mips",
    "mips64el": "mips",
    "riscv64": "riscv",
    "powerpc": "powerpc",
    "loongarch64": "loongarch",
}


@dataclass(frozen=True)
class KernelTree:
    """One kernel build that modules are taken from or compiled against.

    ``config`` maps ``CONFIG_*`` names to their value as kernel.kconfig_file reads them
    (``"m"``, ``"y"``, ``"0x10"``, ``"a string"``, ``"n"`` for ``is not set``); a symbol the
    .config does not mention is absent, which every reader treats like ``"n"``.
    ``builtin_modules`` holds the paths of modules.builtin relative to the kernel tree
    (``"net/netfilter/nf_conntrack.ko"``), empty when the tree ships no modules.builtin (the
    distro headers do not: kbuild decides built-in from the Makefile and .config instead).
    ``modules_dir`` is where prebuilt ``.ko`` files live at their in-tree relative paths.
    ``source_root`` is where kernel sources are (or, with ``source_tarball``, will be unpacked
    directory by directory). ``identity`` keys every cache entry built against this tree.
    ``make_vars`` are extra ``NAME=value`` arguments every out-of-tree make gets (a tree without
    vmlinux's Module.symvers needs ``KBUILD_MODPOST_WARN=1``).
    """

    provider: Provider
    release: str
    version: str
    arch: str
    pkg_arch: str | None
    cross_compile: str
    build_dir: Path
    config: Mapping[str, str] = field(hash=False, compare=False, repr=False)
    symvers_path: Path
    builtin_modules: frozenset[str]
    modules_dir: Path | None
    source_root: Path | None
    vermagic_hash: str
    vermagic: str
    identity: str
    cc: str = "gcc"
    source_tarball: Path | None = None
    config_path: Path | None = None
    make_vars: tuple[str, ...] = ()

    def config_value(self, symbol: str) -> str | None:
        name = symbol if symbol.startswith("CONFIG_") else f"CONFIG_{symbol}"
        return self.config.get(name)

    def describe(self) -> dict[str, str]:
        """The kernel's identity as build reports and release manifests record it."""
        return {
            "provider": self.provider,
            "release": self.release,
            "version": self.version,
            "arch": self.arch,
            "vermagic": self.vermagic,
            "vermagic_hash": self.vermagic_hash,
            "identity": self.identity,
        }

    @property
    def compiler(self) -> str:
        """The C compiler command Kbuild will run (cross prefix included)."""
        return self.cc if self.cc.startswith(self.cross_compile) else self.cross_compile + self.cc


def require_tree_files(build_dir: Path, names: tuple[str, ...] = ("Makefile", ".config")) -> None:
    """Stop with one line naming the first missing file of a kernel build dir."""
    if not build_dir.is_dir():
        problem = (
            "not a directory (a kernel build directory is needed)"
            if build_dir.exists()
            else "kernel build directory does not exist"
        )
        raise KernelTreeError(problem, where=str(build_dir))
    for name in (*names, "Module.symvers"):
        if not (build_dir / name).is_file():
            raise KernelTreeError(
                f"not a prepared kernel build dir: {name} is missing", where=str(build_dir)
            )


def read_release(build_dir: Path) -> str:
    """``uname -r`` of the tree: utsrelease.h first (Debian's kernel.release holds the
    upstream version instead), then include/config/kernel.release."""
    uts = build_dir / "include/generated/utsrelease.h"
    if uts.is_file():
        match = re.search(r'UTS_RELEASE\s+"([^"]+)"', uts.read_text(errors="replace"))
        if match:
            return match.group(1)
    release = build_dir / "include/config/kernel.release"
    if release.is_file() and release.read_text(errors="replace").strip():
        return release.read_text(errors="replace").strip()
    raise KernelTreeError(
        "kernel release unknown: include/config/kernel.release and "
        "include/generated/utsrelease.h are missing (run `make modules_prepare`)",
        where=str(build_dir),
    )


def read_version(makefile: Path) -> str:
    """Upstream version ``VERSION.PATCHLEVEL.SUBLEVEL`` from a kernel top Makefile.

    Follows one level of ``include <path>`` (Debian's headers Makefile is such a wrapper).
    """
    try:
        text = makefile.read_text(errors="replace")
    except OSError as exc:
        raise KernelTreeError(f"cannot read: {exc.strerror}", where=str(makefile)) from exc
    numbers = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)\s*$", text, re.M)
    }
    if "VERSION" in numbers and "PATCHLEVEL" in numbers:
        sub = numbers.get("SUBLEVEL") or "0"
        return f"{numbers['VERSION']}.{numbers['PATCHLEVEL']}.{sub}"
    include = re.search(r"^include\s+(\S+)\s*$", text, re.M)
    if include and "$" not in include.group(1):
        target = Path(include.group(1))
        target = target if target.is_absolute() else makefile.parent / target
        return read_version(target)
    raise KernelTreeError("no VERSION/PATCHLEVEL/SUBLEVEL in kernel Makefile", where=str(makefile))


def read_builtin(build_dir: Path) -> frozenset[str]:
    path = build_dir / "modules.builtin"
    if not path.is_file():
        return frozenset()
    lines = path.read_text(errors="replace").splitlines()
    return frozenset(line.strip().removeprefix("kernel/") for line in lines if line.strip())


def tree_identity(release: str, config_bytes: bytes, symvers_path: Path) -> str:
    """Stable sha256 of release + .config + Module.symvers: equal trees share cache entries."""
    digest = hashlib.sha256()
    digest.update(release.encode() + b"\0")
    digest.update(hashlib.sha256(config_bytes).digest())
    digest.update(hashlib.sha256(symvers_path.read_bytes()).digest())
    return digest.hexdigest()


def karch_from_config(config: Mapping[str, str]) -> str | None:
    """Kbuild ARCH from the architecture symbols of a kernel .config."""
    for symbol, arch in (
        ("CONFIG_X86", "x86"),
        ("CONFIG_ARM64", "arm64"),
        ("CONFIG_ARM", "arm"),
        ("CONFIG_MIPS", "mips"),
        ("CONFIG_RISCV", "riscv"),
        ("CONFIG_PPC", "powerpc"),
        ("CONFIG_LOONGARCH", "loongarch"),
    ):
        if config.get(symbol) == "y":
            return arch
    return None
