"""ipk packages exactly as OpenWrt's ipkg-build makes them, and a reader for any ipk.

Writer: gzip'd GNU tar of ``./debian-binary``, ``./data.tar.gz``, ``./control.tar.gz``; every
tar GNU format, owner 0/0 with empty names, entries in GNU ``--sort=name`` order, mtimes =
SOURCE_DATE_EPOCH, gzip ``-n`` level 6. The same input gives the same bytes whatever the umask,
TZ, locale or entry order. Reader: that layout or the ``ar`` outer of Debian/opkg-utils, plus
the structural facts ``verify`` compares with OpenWrt's (formats, owners, mtimes, gzip headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from kmodkit.errors import FormatError
from kmodkit.formats.control import (
    Field,
    control_fields_for,
    format_control,
    meta_from_fields,
    parse_control,
)
from kmodkit.formats.gzipio import (
    DEFAULT_MAX_UNPACKED,
    GzipHeader,
    gzip_compress,
    gzip_decompress,
)
from kmodkit.formats.model import Entry, PackageInput, PackageMeta, package_filename
from kmodkit.formats.tarball import (
    BLOCK,
    TarFormat,
    TarLayer,
    TarMember,
    read_ar,
    read_tar,
    write_gnu_tar,
)

InstalledSize = Literal["data.tar.gz", "data.tar"]
OuterFormat = Literal["tar.gz", "ar"]

DEBIAN_BINARY = b"2.0\n"
OUTER_MEMBERS = ("./debian-binary", "./data.tar.gz", "./control.tar.gz")
SCRIPT_NAMES = ("preinst", "postinst", "prerm", "postrm", "postinst-pkg", "prerm-pkg")

_PACKAGE_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
# Versions may carry `~` (24.10's kernel package: kernel_6.6.93~<hash>-r1_x86_64.ipk) and an
# epoch (`1:` is dropped from the file name, a longer one kept, as ipkg-build does).
_VERSION = re.compile(r"[A-Za-z0-9_.+~:-]+")


def ipk_filename(meta: PackageMeta) -> str:
    """model.package_filename for an ipk, refusing names no file name should hold."""
    for label, value, pattern in (
        ("package name", meta.name, _PACKAGE_NAME),
        ("version", meta.version, _VERSION),
        ("arch", meta.arch, _PACKAGE_NAME),
    ):
        if not pattern.fullmatch(value):
            raise FormatError(f"{label} {value!r} has characters outside {pattern.pattern}")
    return package_filename("ipk", meta.name, meta.version, meta.arch)


# ---------------------------------------------------------------------------------- packing


def _check_path(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("/"))
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise FormatError(f"bad package path {path!r} (want relative, normalised, no '..')")
    return parts


def _sort_key(parts: tuple[str, ...]) -> tuple[bytes, ...]:
    """GNU ``tar --sort=name``: each directory's children by byte order, depth first."""
    return tuple(p.encode("utf-8") for p in parts)


def data_members(entries: tuple[Entry, ...] | list[Entry], mtime: int) -> list[TarMember]:
    """The data.tar members for ``entries``, with ``./`` and every missing parent directory."""
    by_parts: dict[tuple[str, ...], Entry] = {}
    for entry in entries:
        parts = _check_path(entry.path)
        if parts in by_parts:
            raise FormatError(f"duplicate package path {entry.path!r}")
        by_parts[parts] = entry
    for parts in list(by_parts):
        for depth in range(1, len(parts)):
            parent = parts[:depth]
            existing = by_parts.get(parent)
            if existing is None:
                by_parts[parent] = Entry("/".join(parent), "dir", 0o755)
            elif existing.kind != "dir":
                child = "/".join(parts)
                raise FormatError(f"{existing.path!r} is a {existing.kind} but holds {child!r}")
    members = [TarMember("./", "dir", 0o755, mtime=mtime)]
    for parts in sorted(by_parts, key=_sort_key):
        entry = by_parts[parts]
        name = "./" + entry.path
        if entry.kind == "dir":
            members.append(TarMember(name + "/", "dir", entry.mode & 0o7777, mtime=mtime))
        elif entry.kind == "symlink":
            if not entry.target:
                raise FormatError(f"symlink {entry.path!r} has no target")
            members.append(TarMember(name, "symlink", 0o777, linkname=entry.target, mtime=mtime))
        elif entry.kind == "file":
            members.append(TarMember(name, "file", entry.mode & 0o7777, entry.data, mtime=mtime))
        else:  # hard links, devices, FIFOs (write_gnu_tar checks the rest: links, setuid)
            rule = "hardlink" if entry.kind == "hardlink" else "special-file"
            raise FormatError(f"refusing to write: {entry.path} is a {entry.kind} ({rule})")
    return members


def _conffiles(pkg: PackageInput) -> bytes:
    files = {"/".join(_check_path(e.path)) for e in pkg.entries if e.kind == "file"}
    wanted = sorted({"/" + c.strip("/") for c in pkg.conffiles if c.strip("/") in files})
    return "".join(f"{path}\n" for path in wanted).encode("utf-8")


def control_members(pkg: PackageInput, installed_size: int, mtime: int) -> list[TarMember]:
    fields = control_fields_for(pkg.meta, installed_size)
    files: dict[str, tuple[bytes, int]] = {
        "control": (format_control(fields).encode("utf-8"), 0o644)
    }
    conffiles = _conffiles(pkg)
    if conffiles:
        files["conffiles"] = (conffiles, 0o644)
    for script, body in pkg.scripts.items():
        if script not in SCRIPT_NAMES:
            raise FormatError(f"unknown maintainer script {script!r} (want one of {SCRIPT_NAMES})")
        files[script] = (body.encode("utf-8"), 0o755)
    members = [TarMember("./", "dir", 0o755, mtime=mtime)]
    for name in sorted(files, key=lambda n: n.encode("utf-8")):
        data, mode = files[name]
        members.append(TarMember("./" + name, "file", mode, data, mtime=mtime))
    return members


def pack_ipk(
    pkg: PackageInput,
    *,
    source_date_epoch: int,
    installed_size: InstalledSize = "data.tar",
    max_workers: int | None = None,
) -> bytes:
    """Pack ``pkg`` like ipkg-build with SOURCE_DATE_EPOCH set.

    Byte for byte ipkg-build's output while each gzip layer is under PARALLEL_MIN (every kmod);
    larger layers are deflated in parallel on ``max_workers`` threads (the bytes do not depend
    on it) and the outer layer stores the already compressed data.tar.gz instead of deflating
    it again, so a big ipk costs about one gzip pass, not two.
    """
    data_tar = write_gnu_tar(data_members(pkg.entries, source_date_epoch))
    data_gz = gzip_compress(data_tar, max_workers=max_workers)
    size = len(data_tar) if installed_size == "data.tar" else len(data_gz)
    control_gz = gzip_compress(write_gnu_tar(control_members(pkg, size, source_date_epoch)))
    del data_tar
    outer = [
        TarMember(OUTER_MEMBERS[0], "file", 0o644, DEBIAN_BINARY, mtime=source_date_epoch),
        TarMember(OUTER_MEMBERS[1], "file", 0o644, data_gz, mtime=source_date_epoch),
        TarMember(OUTER_MEMBERS[2], "file", 0o644, control_gz, mtime=source_date_epoch),
    ]
    data_at = 3 * BLOCK  # after debian-binary's header and block, and data.tar.gz's header
    return gzip_compress(
        write_gnu_tar(outer),
        max_workers=max_workers,
        precompressed=(data_at, data_at + len(data_gz)),
    )


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TarEntryFacts:
    """What a tar header says about one member, without its payload."""

    name: str
    kind: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    mtime: int
    size: int
    linkname: str


@dataclass(frozen=True)
class LayerFacts:
    """Structure of one archive layer: the outer file, data.tar.gz or control.tar.gz.

    ``gzip`` is None for an ``ar`` outer; ``tar_format`` is None for it too.
    """

    member: str
    gzip: GzipHeader | None
    tar_format: TarFormat | None
    entries: tuple[TarEntryFacts, ...]
    compressed_size: int
    uncompressed_size: int


@dataclass(frozen=True)
class IpkPackage:
    """A decoded ipk: control stanza, scripts, payload and how it was put together."""

    name: str
    fields: tuple[Field, ...]
    meta: PackageMeta
    control_members: dict[str, bytes]
    entries: tuple[Entry, ...]
    outer_format: OuterFormat
    outer_members: tuple[str, ...]
    debian_binary: bytes
    outer: LayerFacts
    data: LayerFacts
    control: LayerFacts
    scripts: dict[str, str] = field(default_factory=dict)
    conffiles: tuple[str, ...] = ()

    def to_input(self) -> PackageInput:
        """The PackageInput that packs back into this package."""
        return PackageInput(self.meta, self.entries, dict(self.scripts), self.conffiles)


def _facts(
    member: str, gz: GzipHeader | None, layer: TarLayer | None, csize: int, usize: int
) -> LayerFacts:
    entries = tuple(
        TarEntryFacts(
            m.name, m.kind, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime, len(m.data), m.linkname
        )
        for m in (layer.members if layer else ())
    )
    return LayerFacts(member, gz, layer.format if layer else None, entries, csize, usize)


def _bare(name: str) -> str:
    return name[2:] if name.startswith("./") else name.lstrip("/")


def _gz_tar(blob: bytes, where: str, max_unpacked: int) -> tuple[TarLayer, LayerFacts]:
    raw, header = gzip_decompress(blob, where, max_unpacked)
    layer = read_tar(raw, where)
    return layer, _facts(where.rsplit(":", 1)[-1], header, layer, len(blob), len(raw))


def stored_path(name: str) -> str:
    """A tar member name as an Entry path: the ``./`` root prefix and a directory's trailing
    slash dropped, nothing else (``../../x`` and ``/etc/x`` stay what they are)."""
    path = name[2:] if name.startswith("./") else name
    return path.rstrip("/") or path


def _entries(layer: TarLayer) -> tuple[Entry, ...]:
    """The data.tar members as stored; whether they are safe is formats.pathsafety's call."""
    entries: list[Entry] = []
    for m in layer.members:
        path = stored_path(m.name)
        if path in ("", "."):
            continue
        link = m.linkname if m.kind in ("symlink", "hardlink") else ""
        entries.append(Entry(path, m.kind, m.mode & 0o7777, m.data, link))
    return tuple(entries)


def read_ipk(
    data: bytes, name: str = "<ipk>", *, max_unpacked: int = DEFAULT_MAX_UNPACKED
) -> IpkPackage:
    """Decode an ipk; any malformation raises FormatError naming the layer and offset."""
    if data[:2] == b"\x1f\x8b":
        raw, header = gzip_decompress(data, name, max_unpacked)
        outer_layer = read_tar(raw, name)
        outer = _facts("<outer>", header, outer_layer, len(data), len(raw))
        blobs = [(m.name, m.data) for m in outer_layer.members if m.kind == "file"]
        names = tuple(m.name for m in outer_layer.members)
        outer_format: OuterFormat = "tar.gz"
    elif data[:8] == b"!<arch>\n":
        ar_members = read_ar(data, name)
        blobs = [(m.name, m.data) for m in ar_members]
        names = tuple(m.name for m in ar_members)
        outer = LayerFacts("<outer>", None, None, (), len(data), len(data))
        outer_format = "ar"
    else:
        raise FormatError(
            "not an ipk: neither gzip'd tar nor ar (bad magic at offset 0)", where=name
        )
    members = {_bare(n): blob for n, blob in blobs}
    for required in ("debian-binary", "control.tar.gz", "data.tar.gz"):
        if required not in members:
            raise FormatError(f"member {required!r} missing (have {sorted(members)})", where=name)
    control_layer, control_facts = _gz_tar(
        members["control.tar.gz"], f"{name}:control.tar.gz", max_unpacked
    )
    data_layer, data_facts = _gz_tar(members["data.tar.gz"], f"{name}:data.tar.gz", max_unpacked)
    control_files = {_bare(m.name): m.data for m in control_layer.members if m.kind == "file"}
    where = f"{name}:control"
    if "control" not in control_files:
        raise FormatError("control.tar.gz has no ./control member", where=name)
    try:
        text = control_files["control"].decode("utf-8")
        scripts = {n: control_files[n].decode("utf-8") for n in SCRIPT_NAMES if n in control_files}
        conffiles_text = control_files.get("conffiles", b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"control member is not UTF-8 (byte {exc.start})", where=where) from None
    fields = parse_control(text, where)
    return IpkPackage(
        name=name,
        fields=tuple(fields),
        meta=meta_from_fields(fields),
        control_members=control_files,
        entries=_entries(data_layer),
        outer_format=outer_format,
        outer_members=names,
        debian_binary=members["debian-binary"],
        outer=outer,
        data=data_facts,
        control=control_facts,
        scripts=scripts,
        conffiles=tuple(line.strip() for line in conffiles_text.splitlines() if line.strip()),
    )
