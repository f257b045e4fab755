"""Reading apk v3 packages (the read half of ``kmodkit.formats.apk``).

Hard failures (undecodable input) raise FormatError; inconsistencies that verify should report
are collected in ``ApkPackage.problems``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Literal

from kmodkit.errors import FormatError
from kmodkit.formats import adb
from kmodkit.formats import apk_schema as S
from kmodkit.formats.adb import AdbReader
from kmodkit.formats.depends import format_dependency
from kmodkit.formats.model import Entry
from kmodkit.formats.pathsafety import Hazard, Member, find_hazards

UNIQUE_ID_LEN = 20  # apk stores a sha256 truncated to sha1 length as the package unique id
S_IFLNK = 0xA000
ApkKind = Literal["file", "dir", "symlink", "hardlink", "chardev", "blockdev", "fifo", "other"]
# file ``target``: u16le file type + payload (apk-tools extract_v3): a link path for symlinks
# and hard links (S_IFREG), a u64le device number for devices and FIFOs
TARGET_KINDS: dict[int, ApkKind] = {
    S_IFLNK: "symlink",
    0x8000: "hardlink",
    0x2000: "chardev",
    0x6000: "blockdev",
    0x1000: "fifo",
}


@dataclass(frozen=True)
class BlockInfo:
    type: str
    offset: int
    size: int


@dataclass(frozen=True)
class ApkFile:
    """A path of the package with apk's per-file metadata (verify checks these)."""

    path: str  # directory name + "/" + file name, as stored
    kind: ApkKind
    mode: int
    user: str
    group: str
    size: int | None = None
    mtime: int | None = None
    sha256: bytes | None = None
    target: bytes | None = None

    @property
    def link(self) -> str:
        """The link target of a symlink or hard link ("" for anything else)."""
        if self.kind not in ("symlink", "hardlink") or self.target is None:
            return ""
        return self.target[2:].decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class ApkPackage:
    name: str
    version: str
    arch: str
    description: str
    license: str
    origin: str
    maintainer: str
    url: str
    depends: tuple[str, ...]
    provides: tuple[str, ...]
    installed_size: int | None
    unique_id: bytes
    info: dict[str, S.Value]
    entries: tuple[Entry, ...]
    files: tuple[ApkFile, ...]
    scripts: dict[str, str]
    compression: str
    blocks: tuple[BlockInfo, ...]
    adb_payload: bytes
    data_ok: bool
    unique_id_ok: bool
    problems: tuple[str, ...] = field(default=())


def text(value: S.Value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def deps_to_strings(value: S.Value) -> tuple[str, ...]:
    """Dependency objects as the strings apk adbdump prints."""
    out = []
    for dep in value if isinstance(value, list) else []:
        if isinstance(dep, dict) and isinstance(dep.get("name"), bytes):
            version, match = dep.get("version"), dep.get("match")
            out.append(
                format_dependency(
                    text(dep["name"]),
                    text(version) if isinstance(version, bytes) else None,
                    match if isinstance(match, int) else None,
                )
            )
    return tuple(out)


def unique_id_ok(reader: AdbReader) -> bool:
    """Does the stored unique id equal sha256(payload with the id zeroed)[:20]?"""
    info = reader.slots(reader.root)[:1]
    hashes = reader.slots(info[0])[2:3] if info else []
    if not hashes or adb.val_type(hashes[0]) != adb.T_BLOB8:
        return False
    uid = reader.blob(hashes[0]) or b""
    start = adb.val_value(hashes[0]) + 1
    payload = reader.data
    zeroed = payload[:start] + bytes(len(uid)) + payload[start + len(uid) :]
    return len(uid) == UNIQUE_ID_LEN and hashlib.sha256(zeroed).digest()[:UNIQUE_ID_LEN] == uid


def _is_sorted(kind: S.Kind, items: list[S.Value]) -> bool:
    return all(S.compare(kind, a, b) <= 0 for a, b in itertools.pairwise(items))


def _target_kind(target: bytes) -> ApkKind:
    """What a file ``target`` makes of the file, checked as apk-tools checks it."""
    kind = TARGET_KINDS.get(int.from_bytes(target[:2], "little")) if len(target) >= 2 else None
    if kind is None:
        return "other"
    if kind == "symlink" or kind == "hardlink":
        return kind if len(target) > 2 else "other"
    return kind if len(target) == 10 else "other"  # devices and FIFOs: a u64 device number


def _walk_paths(
    paths: list[S.Value], problems: list[str]
) -> tuple[list[ApkFile], dict[tuple[int, int], ApkFile]]:
    files: list[ApkFile] = []
    by_index: dict[tuple[int, int], ApkFile] = {}
    if not _is_sorted(S.DIR, paths):
        problems.append("paths are not in apk's sort order")
    for i, d in enumerate(paths, 1):
        if not isinstance(d, dict):
            continue
        dname = text(d.get("name"))
        acl = d.get("acl") if isinstance(d.get("acl"), dict) else {}
        assert isinstance(acl, dict)
        mode = acl.get("mode")
        files.append(
            ApkFile(
                dname,
                "dir",
                mode if isinstance(mode, int) else 0o755,
                text(acl.get("user")),
                text(acl.get("group")),
            )
        )
        flist = d.get("files") if isinstance(d.get("files"), list) else []
        assert isinstance(flist, list)
        if not _is_sorted(S.FILE, flist):
            problems.append(f"files of {dname or '/'!r} are not in apk's sort order")
        for j, f in enumerate(flist, 1):
            if not isinstance(f, dict):
                continue
            fname = text(f.get("name"))
            path = f"{dname}/{fname}" if dname else fname
            facl = f.get("acl") if isinstance(f.get("acl"), dict) else {}
            assert isinstance(facl, dict)
            target = f.get("target")
            kind: ApkKind = "file"
            if isinstance(target, bytes):
                kind = _target_kind(target)
                if kind == "other":
                    problems.append(f"{path}: file target of unknown type")
            size, mtime, digest = (f.get(k) for k in ("size", "mtime", "hash"))
            fmode = facl.get("mode")
            item = ApkFile(
                path,
                kind,
                fmode if isinstance(fmode, int) else 0o644,
                text(facl.get("user")),
                text(facl.get("group")),
                size if isinstance(size, int) else None,
                mtime if isinstance(mtime, int) else None,
                digest if isinstance(digest, bytes) else None,
                target if isinstance(target, bytes) else None,
            )
            files.append(item)
            by_index[(i, j)] = item
    return files, by_index


def read_package(data: bytes, name: str = "<apk>") -> ApkPackage:
    """Decode an apk v3 package; see the module docstring for errors vs. ``problems``."""
    container = adb.parse_container(data, name, expected_schema=adb.SCHEMA_PACKAGE)
    adb_payload = container.adb
    reader = AdbReader(adb_payload, name)
    root = S.decode(reader, reader.root, S.PACKAGE)
    if not isinstance(root, dict):
        raise FormatError("ADB root is not an object", where=name)
    problems: list[str] = [f"misaligned value at ADB offset {off}" for off in reader.misaligned]
    info = root.get("info") if isinstance(root.get("info"), dict) else {}
    assert isinstance(info, dict)
    paths = root.get("paths") if isinstance(root.get("paths"), list) else []
    assert isinstance(paths, list)
    files, by_index = _walk_paths(paths, problems)

    contents: dict[str, bytes] = {}
    for blk in container.blocks[1:]:
        if blk.type == adb.BLOCK_SIG:
            if contents:
                problems.append(f"SIG block after DATA at byte {blk.offset}")
            continue
        if blk.size < 8:
            problems.append(f"DATA block at byte {blk.offset} is too short")
            continue
        key = (
            int.from_bytes(blk.data[:4], "little"),
            int.from_bytes(blk.data[4:8], "little"),
        )
        target = by_index.get(key)
        body = blk.data[8:]  # a view: copied once, into the entry, only if it is kept
        if target is None or target.kind != "file":
            problems.append(f"DATA block at byte {blk.offset} matches no regular file {key}")
        elif target.path in contents:
            problems.append(f"{target.path}: second DATA block at byte {blk.offset}")
        else:
            contents[target.path] = bytes(body)
            if target.size != len(body):
                problems.append(
                    f"{target.path}: DATA holds {len(body)} bytes, size says {target.size}"
                )
            if target.sha256 != hashlib.sha256(body).digest():
                problems.append(f"{target.path}: DATA does not match its sha256")
    for f in files:
        if f.kind == "file" and f.size and f.path not in contents:
            problems.append(f"{f.path}: no DATA block for {f.size} bytes")
    data_ok = not any("DATA" in p or "sha256" in p for p in problems)

    entries: list[Entry] = []
    for f in files:
        if f.kind == "dir" and f.path:
            entries.append(Entry(f.path, "dir", f.mode))
        elif f.kind == "file":
            entries.append(Entry(f.path, "file", f.mode, contents.get(f.path, b"")))
        elif f.kind != "dir":
            entries.append(Entry(f.path, f.kind, f.mode, b"", f.link))

    scripts_obj = root.get("scripts") if isinstance(root.get("scripts"), dict) else {}
    assert isinstance(scripts_obj, dict)
    uid_ok = unique_id_ok(reader)
    if not uid_ok:
        problems.append("unique id (info hashes) does not recompute")
    for field_name in ("depends", "provides"):
        items = info.get(field_name)
        if isinstance(items, list) and not _is_sorted(S.DEPENDENCY, items):
            problems.append(f"{field_name} are not in apk's sort order")
    size = info.get("installed-size")
    uid = info.get("hashes")
    return ApkPackage(
        name=text(info.get("name")),
        version=text(info.get("version")),
        arch=text(info.get("arch")),
        description=text(info.get("description")),
        license=text(info.get("license")),
        origin=text(info.get("origin")),
        maintainer=text(info.get("maintainer")),
        url=text(info.get("url")),
        depends=deps_to_strings(info.get("depends")),
        provides=deps_to_strings(info.get("provides")),
        installed_size=size if isinstance(size, int) else None,
        unique_id=uid if isinstance(uid, bytes) else b"",
        info=info,
        entries=tuple(entries),
        files=tuple(files),
        scripts={k: text(v) for k, v in scripts_obj.items()},
        compression=container.compression,
        blocks=tuple(BlockInfo(b.type_name, b.offset, b.size) for b in container.blocks),
        adb_payload=adb_payload,
        data_ok=data_ok,
        unique_id_ok=uid_ok,
        problems=tuple(problems),
    )


def apk_hazards(pkg: ApkPackage) -> list[Hazard]:
    """What in this package would harm the device it is installed on (formats.pathsafety)."""
    return find_hazards(Member(f.path, f.kind, f.mode, f.link) for f in pkg.files)


def read_apk(data: bytes, name: str = "<apk>") -> ApkPackage:
    """Decode an apk v3 package (FormatError if undecodable; soft issues in ``problems``)."""
    return read_package(data, name)
