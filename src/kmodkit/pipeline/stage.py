"""Turn a resolved kmod and its obtained modules into a format-neutral ``PackageInput``.

Mirrors what OpenWrt's KernelPackage/BuildPackage put into a kmod: the modules under
/lib/modules/<release>/, the /etc/modules.d autoload file (and its modules-boot.d link), extra
files, and the default_postinst/default_prerm scripts. Pure: bytes in, dataclasses out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from kmodkit.formats.model import OPENWRT_POSTINST as POSTINST
from kmodkit.formats.model import OPENWRT_PRERM as PRERM
from kmodkit.formats.model import Entry, PackageInput, PackageMeta


@dataclass(frozen=True)
class StagedFile:
    """A file to install: absolute target path inside the image, content and mode."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class StagedSymlink:
    path: str
    target: str


def with_parent_dirs(entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """Add a directory entry for every parent of every entry, sorted by path."""
    by_path = {e.path: e for e in entries}
    for entry in entries:
        for parent in PurePosixPath(entry.path).parents:
            name = str(parent)
            if name != "." and name not in by_path:
                by_path[name] = Entry(name, "dir", 0o755)
    return tuple(by_path[p] for p in sorted(by_path))


def stage_entries(
    modules: Mapping[str, bytes],
    kernel_release: str,
    files: Sequence[StagedFile] = (),
    symlinks: Sequence[StagedSymlink] = (),
) -> tuple[Entry, ...]:
    """Entries of a kmod: ``modules`` maps a module basename (``nf_flow_table.ko``) to its bytes."""
    entries: list[Entry] = [
        Entry(f"lib/modules/{kernel_release}/{name}", "file", 0o644, data)
        for name, data in modules.items()
    ]
    entries += [Entry(f.path.lstrip("/"), "file", f.mode, f.data) for f in files]
    entries += [Entry(s.path.lstrip("/"), "symlink", 0o777, target=s.target) for s in symlinks]
    return with_parent_dirs(entries)


def kmod_package(meta: PackageMeta, entries: Sequence[Entry]) -> PackageInput:
    """A kmod with OpenWrt's default maintainer scripts (the apk packer adds its .list file)."""
    return PackageInput(
        meta=meta, entries=tuple(entries), scripts={"postinst": POSTINST, "prerm": PRERM}
    )


def kernel_package(meta: PackageMeta) -> PackageInput:
    """The virtual `kernel` package the kmods depend on: no files, only its version (facts §4).

    OpenWrt's own also depends on libc; kmodkit's feed ships no libc, so that item is left out
    to keep the feed self-contained (on a device, libc is always installed).
    """
    return PackageInput(meta=meta, entries=(), scripts={"postinst": POSTINST, "prerm": PRERM})
