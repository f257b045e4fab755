"""Format-neutral views the cross-package checks work on.

The ipk and apk checks turn each artifact into a ``PackageView`` (its metadata, dependencies
and regular files); feeds, --index bases and the kernel become ``Universe`` members, so module,
kernel and dependency checks are written once for both package managers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from kmodkit.kernel.modinfo import ModInfo

from kmodkit.kernel.modinfo import module_name as module_name  # the one definition

Manager = Literal["opkg", "apk"]


@dataclass(frozen=True)
class Dep:
    """One dependency item; ``op`` is empty for an unversioned dependency."""

    name: str
    op: str = ""
    version: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.op}{self.version})" if self.op else self.name


@dataclass
class PackageView:
    """One package as the checks see it (files are only known for real package files)."""

    artifact: str
    manager: Manager
    name: str
    version: str
    arch: str = ""
    depends: list[list[Dep]] = field(default_factory=list)  # alternatives in each inner list
    provides: list[str] = field(default_factory=list)
    # relative path -> bytes of every regular file; once the package's own checks ran, only
    # /etc/modules.d files keep their bytes (verify/reading.release_file_data)
    files: dict[str, bytes] = field(default_factory=dict)
    modules: dict[str, ModInfo] | None = None  # path -> modinfo of its .ko, read before release
    has_files: bool = True  # False for --index entries known only from an index
    origin: str = ""  # "feed", "base" or "loose"
    size: int = 0  # file size in bytes
    sha256: str = ""  # of the whole file
    adb_hash: str = ""  # apk: sha256 of the ADB block payload (what packages.adb records)


# kernel dependency versions: <= 23.05 `5.15.137-1-<hash>`, 24.10+ `6.6.93~<hash>-r1`
_KERNEL_DEP = re.compile(
    r"^(?P<ver>\d+(?:\.\d+)+)(?:-(?P<rel>\d+)-(?P<hash>[0-9a-f]{32})|~(?P<hash2>[0-9a-f]{32})-r(?P<rel2>\d+))$"
)


@dataclass(frozen=True)
class KernelDepVersion:
    version: str
    hash: str
    scheme: Literal["old", "new"]  # old: 5.15.137-1-<hash>; new: 6.6.93~<hash>-r1


def parse_kernel_dep_version(text: str) -> KernelDepVersion | None:
    m = _KERNEL_DEP.match(text.strip())
    if m is None:
        return None
    if m.group("hash"):
        return KernelDepVersion(m.group("ver"), m.group("hash"), "old")
    return KernelDepVersion(m.group("ver"), m.group("hash2"), "new")


@dataclass
class KernelRef:
    """What the modules must match; any field may be unknown (None)."""

    source: str
    release: str | None = None  # uname -r, the /lib/modules/<release>/ directory
    version: str | None = None  # the kernel version in the kernel package version (6.6.93)
    vermagic: str | None = None  # the modules' vermagic string
    vermagic_hash: str | None = None  # OpenWrt's 32-hex config hash
    exported: set[str] | None = None  # symbols vmlinux exports (Module.symvers)
    module_exports: dict[str, str] = field(default_factory=dict)  # symbol -> in-tree module
    builtin: set[str] | None = None  # built-in module names (normalized)
