"""apk v3 packages: pack a PackageInput like ``apk mkpkg`` (as OpenWrt calls it), read one back.

The writer reproduces apk mkpkg's write order (info fields, then every directory with its files,
then sizes, the unique id and the scripts) so that, with apk's value de-duplication in
``AdbWriter``, the ADB block is byte-identical to apk-tools 3.0.6 output.

``read_apk`` raises FormatError when the file cannot be decoded at all (bad magic, truncation,
offsets outside the block, wrong value types, blocks out of order); everything that decodes but
is inconsistent (DATA that matches no file, wrong sha256, a unique id that does not recompute,
misaligned values, unsorted arrays) is reported in ``ApkPackage.problems`` for verify to judge.
"""

from __future__ import annotations

import hashlib
import posixpath
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kmodkit.errors import FormatError
from kmodkit.formats import adb, apk_version
from kmodkit.formats import apk_schema as S
from kmodkit.formats.adb import AdbWriter
from kmodkit.formats.apk_read import (
    S_IFLNK,
    UNIQUE_ID_LEN,
    ApkFile,
    ApkPackage,
    BlockInfo,
    read_apk,
)
from kmodkit.formats.depends import (
    opkg_to_apk_depends,
    parse_apk_dependency,
    split_apk_dependencies,
)
from kmodkit.formats.model import (
    APK_SCRIPT_NAMES,
    Entry,
    PackageInput,
    PackageMeta,
    package_filename,
)
from kmodkit.formats.pathsafety import Member, require_safe

__all__ = ["ApkFile", "ApkPackage", "BlockInfo", "apk_filename", "pack_apk", "read_apk"]


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class _Node:
    name: str
    kind: Literal["file", "symlink"]
    mode: int
    data: bytes


def apk_filename(meta: PackageMeta) -> str:
    """``<name>-<version>.apk``, the file name OpenWrt gives apk packages."""
    return package_filename("apk", meta.name, meta.version, meta.arch)


def _clean_path(path: str) -> str:
    p = path.strip()
    while p.startswith("./"):
        p = p[2:]
    p = p.strip("/")
    if p in ("", "."):
        return ""
    parts = p.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise FormatError(f"invalid path {path!r} in package entries")
    return p


def _file_list(entries: Sequence[Entry]) -> bytes:
    """OpenWrt's ``find . -type f,l -printf "/%P\\n" | sort`` of the staged tree."""
    names = sorted(
        ("/" + _clean_path(e.path)).encode() for e in entries if e.kind in ("file", "symlink")
    )
    return b"".join(n + b"\n" for n in names)


def _layout(entries: Sequence[Entry]) -> tuple[list[str], dict[str, int], dict[str, list[_Node]]]:
    """Directories (apk order: root, then bytewise), their modes, and their sorted files."""
    modes: dict[str, int] = {"": 0o755}
    files: dict[str, list[_Node]] = {}
    file_paths: set[str] = set()
    for e in entries:
        path = _clean_path(e.path)
        parent = posixpath.dirname(path)
        while parent:
            modes.setdefault(parent, 0o755)
            parent = posixpath.dirname(parent)
        if e.kind == "dir":
            if path:
                modes[path] = e.mode & 0o7777
            continue
        if not path or path in file_paths:
            raise FormatError(f"duplicate or empty file entry {e.path!r} in package entries")
        file_paths.add(path)
        base = posixpath.basename(path)
        if e.kind == "symlink":
            node = _Node(base, "symlink", 0o777, e.target.encode())
        else:
            node = _Node(base, "file", e.mode & 0o7777, e.data)
        files.setdefault(posixpath.dirname(path), []).append(node)
    both = file_paths & set(modes)
    if both:
        raise FormatError(f"{sorted(both)[0]!r} is both a file and a directory")
    for nodes in files.values():
        nodes.sort(key=lambda n: n.name.encode())
    return sorted(modes, key=lambda p: p.encode()), modes, files


def _write_deps(w: AdbWriter, items: Sequence[str]) -> int:
    """dependencies_fromstring + adb_wa_sort_unique, with apk's write order."""
    written: list[tuple[S.Value, int]] = []
    for item in items:
        dep = parse_apk_dependency(item)
        slots = [w.blob(dep.name.encode()), adb.NULL, adb.NULL]
        value: dict[str, S.Value] = {"name": dep.name.encode()}
        mask = dep.match
        if mask != apk_version.ANY:
            if dep.version is not None:
                slots[1] = w.blob(dep.version.encode())
                value["version"] = dep.version.encode()
            if mask != apk_version.EQUAL:
                slots[2] = w.integer(mask)
                value["match"] = mask
        val = w.obj(slots)
        if val != adb.NULL:
            written.append((value, val))
    written.sort(key=lambda pair: S.sort_key(S.DEPENDENCY)(pair[0]))
    unique: list[int] = []
    for _value, val in written:
        if not unique or unique[-1] != val:
            unique.append(val)
    return w.obj(unique)


def _info_texts(meta: PackageMeta) -> dict[str, str]:
    """The ``--info`` values OpenWrt's package-pack.mk passes to apk mkpkg."""
    if not apk_version.is_valid(meta.version):
        raise FormatError(f"version {meta.version!r} is not a valid apk version", where=meta.name)
    return {
        "name": meta.name,
        "version": meta.version,
        "description": " ".join(meta.description.split()),
        "arch": "noarch" if "all" in meta.arch else meta.arch,
        "license": meta.license,
        "origin": meta.source,
        "maintainer": meta.maintainer,
        "url": meta.url,
    }


def _write_info_fields(w: AdbWriter, meta: PackageMeta) -> list[int]:
    slots = [adb.NULL] * len(S.PKGINFO.fields)
    for key, text in _info_texts(meta).items():
        slots[S.PKGINFO.index(key) - 1] = w.blob(text.encode())
    try:
        depends = opkg_to_apk_depends(meta.depends)
        provides = [p for item in meta.provides for p in split_apk_dependencies(item)]
        slots[S.PKGINFO.index("depends") - 1] = _write_deps(w, depends)
        slots[S.PKGINFO.index("provides") - 1] = _write_deps(w, provides)
    except FormatError as exc:
        raise FormatError(exc.message, where=meta.name) from None
    if meta.abi_version:
        tag = w.blob(f"openwrt:abiversion={meta.abi_version}".encode())
        slots[S.PKGINFO.index("tags") - 1] = w.obj([tag])
    return slots


def _write_file(w: AdbWriter, node: _Node, mtime: int) -> int:
    name = w.blob(node.name.encode())
    hash_val = target = adb.NULL
    if node.kind == "file":
        hash_val = w.blob(hashlib.sha256(node.data).digest())
    else:
        target = w.blob(struct.pack("<H", S_IFLNK) + node.data)
    mtime_val = w.integer(mtime)
    size = w.integer(len(node.data))
    acl = w.obj([w.integer(node.mode), w.blob(b"root"), w.blob(b"root")])
    return w.obj([name, acl, size, mtime_val, hash_val, target])


def _adb_payload(
    pkg: PackageInput, entries: Sequence[Entry], mtime: int
) -> tuple[bytes, list[bytes]]:
    """The package ADB payload and its DATA block payloads, in apk mkpkg's order."""
    w = AdbWriter()
    info = _write_info_fields(w, pkg.meta)
    dirs, modes, files = _layout(entries)
    dir_vals: list[int] = []
    data_blocks: list[bytes] = []
    installed = 0
    for path_idx, path in enumerate(dirs, 1):
        nodes = files.get(path, [])
        file_vals = [_write_file(w, n, mtime) for n in nodes]
        name = w.blob(path.encode())
        acl = w.obj([w.integer(modes[path]), w.blob(b"root"), w.blob(b"root")])
        dir_vals.append(w.obj([name, acl, w.obj(file_vals)]))
        for file_idx, n in enumerate(nodes, 1):
            if n.kind == "file":
                installed += len(n.data)
                if n.data:
                    data_blocks.append(struct.pack("<II", path_idx, file_idx) + n.data)
    scripts = {APK_SCRIPT_NAMES.get(k, k): v for k, v in pkg.scripts.items()}
    unknown = set(scripts) - set(S.SCRIPT_NAMES)
    if unknown:
        raise FormatError(f"unknown script {sorted(unknown)[0]!r}", where=pkg.meta.name)
    info[S.PKGINFO.index("installed-size") - 1] = w.integer(installed or 1)
    info[S.PKGINFO.index("hashes") - 1] = w.blob(bytes(UNIQUE_ID_LEN), dedup=False)
    info_val = w.obj(info)
    paths_val = w.obj(dir_vals)
    script_val = w.obj([w.blob(scripts.get(n, "").encode()) for n in S.SCRIPT_NAMES])
    w.set_root(w.obj([info_val, paths_val, script_val]))
    payload = bytearray(w.payload())
    hashes_off = adb.val_value(info[S.PKGINFO.index("hashes") - 1]) + 1
    uid = hashlib.sha256(payload).digest()[:UNIQUE_ID_LEN]
    payload[hashes_off : hashes_off + UNIQUE_ID_LEN] = uid
    return bytes(payload), data_blocks


def pack_apk(
    pkg: PackageInput,
    *,
    source_date_epoch: int,
    compression: Literal["none", "deflate"] = "deflate",
    add_file_list: bool = True,
) -> bytes:
    """Build ``<name>-<version>.apk`` bytes: one ADB block, then one DATA block per file.

    Every mtime is ``source_date_epoch`` and every owner root:root, so the output depends on
    nothing but the inputs. ``add_file_list`` adds OpenWrt's ``lib/apk/packages/<name>.list``
    when the entries do not already carry it.
    """
    entries = list(pkg.entries)
    require_safe((Member(e.path, e.kind, e.mode, e.target) for e in entries), pkg.meta.name)
    list_path = f"lib/apk/packages/{pkg.meta.name}.list"
    if add_file_list and all(_clean_path(e.path) != list_path for e in entries):
        entries.append(Entry(list_path, "file", 0o644, _file_list(entries)))
    payload, data_blocks = _adb_payload(pkg, entries, source_date_epoch)
    blocks = [(adb.BLOCK_ADB, payload)] + [(adb.BLOCK_DATA, d) for d in data_blocks]
    return adb.compress(adb.build_stream(adb.SCHEMA_PACKAGE, blocks), compression)
