"""Plain data shared by the ipk and apk packers/readers, the build pipeline and verify.

A package is described once (``PackageInput``) and packed into either format; readers return
the same ``Entry`` objects so tests and checks can compare formats with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Packers write file, dir and symlink; readers also report what a hostile package may hold
# (hard links, devices, FIFOs, "other" for an unknown apk file type) so verify can judge it.
EntryKind = Literal["file", "dir", "symlink", "hardlink", "chardev", "blockdev", "fifo", "other"]

# opkg maintainer-script names -> apk v3 script names (apk-tools' package schema).
APK_SCRIPT_NAMES: dict[str, str] = {
    "preinst": "pre-install",
    "postinst": "post-install",
    "prerm": "pre-deinstall",
    "postrm": "post-deinstall",
}

# The maintainer-script wrappers include/package-pack.mk writes for every OpenWrt package
# (kmods included); apk packages carry the same text as post-install / pre-deinstall.
OPENWRT_POSTINST = (
    "#!/bin/sh\n"
    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n'
    "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n"
    ". ${IPKG_INSTROOT}/lib/functions.sh\n"
    "default_postinst $0 $@\n"
)
OPENWRT_PRERM = (
    "#!/bin/sh\n"
    "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n"
    ". ${IPKG_INSTROOT}/lib/functions.sh\n"
    "default_prerm $0 $@\n"
)


@dataclass(frozen=True, order=True)
class Entry:
    """One filesystem object inside a package.

    ``path`` is relative and POSIX, without a leading ``/`` or ``./`` (``lib/modules/x/y.ko``).
    Readers keep a path as the package stores it (``../../x`` stays so); ``target`` is the
    link target of a symlink or hard link.
    """

    path: str
    kind: EntryKind = "file"
    mode: int = 0o644
    data: bytes = b""
    target: str = ""


@dataclass(frozen=True)
class PackageMeta:
    """Control metadata common to ipk and apk.

    ``depends`` holds opkg-syntax items (``kernel (=6.6.93~hash-r1)``, ``kmod-nf-flow``); the apk
    packer converts them the way OpenWrt does. ``description`` may span lines; its first line is
    the summary.
    """

    name: str
    version: str
    arch: str
    description: str
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    license: str = "GPL-2.0"
    license_files: str = ""
    section: str = "kernel"
    source: str = ""
    source_name: str = ""
    maintainer: str = ""
    url: str = ""
    abi_version: str = ""
    cpe_id: str = ""
    source_date_epoch: int | None = None


def package_filename(fmt: Literal["ipk", "apk"], name: str, version: str, arch: str) -> str:
    """The file name of a package: the one place packers, verify and the pipeline get it from.

    ipk: ``<Package>_<Version>_<Architecture>.ipk`` as OpenWrt's scripts/ipkg-build names it,
    whose ``sed 's/^.://'`` drops a one-character epoch (``1:2.0-1`` -> ``2.0-1``) and keeps a
    longer one. apk: ``<name>-<version>.apk`` (apk versions have no epoch).
    """
    if fmt == "apk":
        return f"{name}-{version}.apk"
    if version[1:2] == ":":
        version = version[2:]
    return f"{name}_{version}_{arch}.ipk"


@dataclass(frozen=True)
class PackageInput:
    """Everything a packer needs: metadata, staged entries, maintainer scripts (opkg names)."""

    meta: PackageMeta
    entries: tuple[Entry, ...]
    scripts: dict[str, str] = field(default_factory=dict)
    conffiles: tuple[str, ...] = ()
