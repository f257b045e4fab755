"""GNU tar and ar layers of an ipk, written and read byte-exactly and defensively (gzip: gzipio).

The writer reproduces what ``tar --format=gnu --numeric-owner`` piped into ``gzip -n`` emits
(OpenWrt's ipkg-build), so our ipks match real ones header for header. The readers work on
bytes already in memory, check every offset and length against the buffer and cap decompressed
sizes, and report faults as FormatError naming the byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kmodkit.errors import FormatError

BLOCK = 512
RECORD = 20 * BLOCK  # GNU tar's default blocking factor pads archives to 10240 bytes
GNU_MAGIC = b"ustar  \x00"
POSIX_MAGIC = b"ustar\x0000"
LONGLINK_NAME = b"././@LongLink"
MAX_MEMBERS = 100_000

TarKind = Literal["file", "dir", "symlink", "hardlink"]
TarFormat = Literal["gnu", "ustar", "pax", "v7"]

_TYPEFLAG: dict[TarKind, bytes] = {"file": b"0", "dir": b"5", "symlink": b"2", "hardlink": b"1"}
_KIND_OF_FLAG: dict[bytes, TarKind] = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",
    b"5": "dir",
    b"2": "symlink",
    b"1": "hardlink",
}


@dataclass(frozen=True)
class TarMember:
    """One archive member as stored: ``name`` keeps its ``./`` prefix and directory slash."""

    name: str
    kind: TarKind = "file"
    mode: int = 0o644
    data: bytes = b""
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int = 0
    offset: int = 0  # byte offset of the (first) header in the archive, set by the reader


@dataclass(frozen=True)
class TarLayer:
    """A decoded tar archive plus the structural facts ``verify`` checks."""

    format: TarFormat
    members: tuple[TarMember, ...]


# ---------------------------------------------------------------------------------- writing


def _octal(value: int, width: int) -> bytes:
    digits = width - 1
    if value < 0 or value >= 8**digits:
        raise FormatError(f"value {value} does not fit a {width}-byte tar field")
    return b"%0*o\x00" % (digits, value)


def _header(
    name: bytes, kind_flag: bytes, *, mode: int, size: int, mtime: int, link: bytes
) -> bytes:
    buf = bytearray(BLOCK)
    buf[0 : len(name)] = name
    buf[100:108] = _octal(mode & 0o7777, 8)
    buf[108:116] = _octal(0, 8)
    buf[116:124] = _octal(0, 8)
    buf[124:136] = _octal(size, 12)
    buf[136:148] = _octal(mtime, 12)
    buf[148:156] = b" " * 8
    buf[156:157] = kind_flag
    buf[157 : 157 + len(link)] = link
    buf[257:265] = GNU_MAGIC
    checksum = sum(buf)
    buf[148:156] = b"%06o\x00 " % checksum
    return bytes(buf)


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def _long_record(kind_flag: bytes, value: bytes) -> bytes:
    payload = value + b"\x00"
    head = _header(LONGLINK_NAME, kind_flag, mode=0o644, size=len(payload), mtime=0, link=b"")
    return head + payload + _padding(len(payload))


def write_gnu_tar(members: list[TarMember] | tuple[TarMember, ...]) -> bytes:
    """Serialise members in the given order as GNU tar, owner 0/0 with empty names.

    Names and link targets longer than 100 bytes get ``././@LongLink`` records (K before L),
    as GNU tar writes them; the archive is padded to a 10240-byte record. The parts are joined
    once, so each payload is copied once however large.
    """
    parts: list[bytes] = []
    for member in members:
        name = member.name.encode("utf-8")
        link = member.linkname.encode("utf-8")
        if len(link) > 100:
            parts.append(_long_record(b"K", link))
        if len(name) > 100:
            parts.append(_long_record(b"L", name))
        size = len(member.data) if member.kind == "file" else 0
        parts.append(
            _header(
                name[:100],
                _TYPEFLAG[member.kind],
                mode=member.mode,
                size=size,
                mtime=member.mtime,
                link=link[:100],
            )
        )
        if size:
            parts += (member.data, _padding(size))
    length = sum(map(len, parts)) + 2 * BLOCK
    parts.append(bytes(2 * BLOCK + -length % RECORD))
    return b"".join(parts)


# ---------------------------------------------------------------------------------- reading


def _parse_number(field: bytes, offset: int, where: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise FormatError(f"negative number in tar header at offset {offset}", where=where)
        return value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise FormatError(
            f"bad octal number {text!r} in tar header at offset {offset}", where=where
        ) from None


def _text(raw: bytes, offset: int, where: str) -> str:
    try:
        return raw.split(b"\x00", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"tar name is not UTF-8 at offset {offset}", where=where) from None


def _pax_records(payload: bytes, offset: int, where: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(payload):
        space = payload.find(b" ", pos)
        if space < 0:
            raise FormatError(f"malformed pax record at offset {offset + pos}", where=where)
        try:
            length = int(payload[pos:space])
        except ValueError:
            raise FormatError(
                f"malformed pax record length at offset {offset + pos}", where=where
            ) from None
        end = pos + length
        if length <= 0 or end > len(payload) or payload[end - 1 : end] != b"\n":
            raise FormatError(f"malformed pax record at offset {offset + pos}", where=where)
        key, sep, value = payload[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise FormatError(f"pax record without '=' at offset {offset + pos}", where=where)
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(
                f"pax record is not UTF-8 at offset {offset + pos}", where=where
            ) from None
        pos = end
    return records


def read_tar(data: bytes, where: str) -> TarLayer:
    """Decode a tar archive (GNU, ustar, pax or v7) held in memory."""
    members: list[TarMember] = []
    formats: set[str] = set()
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    pos = 0
    pending_at: int | None = None  # offset of the first L/K/x record that prefixes a header
    while True:
        if pos + BLOCK > len(data):
            if pos == len(data) and members:  # no end-of-archive blocks: tolerated like tar
                break
            raise FormatError(f"tar header truncated at offset {pos}", where=where)
        head = data[pos : pos + BLOCK]
        if head == bytes(BLOCK):
            break
        stored = _parse_number(head[148:156], pos, where)
        unsigned = sum(head[:148]) + 256 + sum(head[156:])
        signed = unsigned - 2 * sum(b for b in head[:148] + head[156:] if b > 127)
        if stored not in (unsigned, signed):
            raise FormatError(f"bad tar header checksum at offset {pos}", where=where)
        magic = head[257:265]
        formats.add("gnu" if magic == GNU_MAGIC else "ustar" if magic[:6] == b"ustar\x00" else "v7")
        flag = head[156:157]
        size = _parse_number(head[124:136], pos, where)
        body_at = pos + BLOCK
        if size > len(data) - body_at:
            raise FormatError(
                f"tar member at offset {pos} claims {size} bytes past the end", where=where
            )
        body = data[body_at : body_at + size]
        header_at = pos if pending_at is None else pending_at
        next_pos = body_at + size + (-size % BLOCK)
        if flag in (b"L", b"K"):
            value = _text(body, body_at, where)
            if flag == b"L":
                long_name = value
            else:
                long_link = value
            pending_at = header_at
        elif flag in (b"x", b"g"):
            formats.add("pax")
            records = _pax_records(body, body_at, where)
            if flag == b"x":
                pax.update(records)
                pending_at = header_at
        else:
            kind = _KIND_OF_FLAG.get(flag)
            if kind is None:
                raise FormatError(
                    f"unsupported tar entry type {flag!r} at offset {pos}", where=where
                )
            name = _text(head[0:100], pos, where)
            if magic[:6] == b"ustar\x00" and head[345]:
                name = _text(head[345:500], pos, where) + "/" + name
            if long_name is not None:
                name = long_name
            link = long_link if long_link is not None else _text(head[157:257], pos, where)
            name = pax.get("path", name)
            link = pax.get("linkpath", link)
            if "size" in pax and kind == "file":
                raise FormatError(f"pax size override not supported at offset {pos}", where=where)
            members.append(
                TarMember(
                    name=name,
                    kind=kind,
                    mode=_parse_number(head[100:108], pos, where),
                    data=body if kind == "file" else b"",
                    linkname=link,
                    uid=_parse_number(head[108:116], pos, where),
                    gid=_parse_number(head[116:124], pos, where),
                    uname=pax.get("uname", _text(head[265:297], pos, where)),
                    gname=pax.get("gname", _text(head[297:329], pos, where)),
                    mtime=_parse_number(head[136:148], pos, where),
                    offset=header_at,
                )
            )
            if len(members) > MAX_MEMBERS:
                raise FormatError(f"more than {MAX_MEMBERS} tar members", where=where)
            long_name = long_link = pending_at = None
            pax = {}
        pos = next_pos
        if pos > len(data):
            raise FormatError(f"tar member at offset {header_at} is truncated", where=where)
    fmt: TarFormat = (
        "pax"
        if "pax" in formats
        else "gnu"
        if "gnu" in formats
        else "ustar"
        if "ustar" in formats
        else "v7"
    )
    return TarLayer(format=fmt, members=tuple(members))


@dataclass(frozen=True)
class ArMember:
    name: str
    data: bytes
    offset: int


def read_ar(data: bytes, where: str) -> tuple[ArMember, ...]:
    """Decode a common ``ar`` archive (Debian packages, old opkg-utils ipks)."""
    if not data.startswith(b"!<arch>\n"):
        raise FormatError("not an ar archive (bad magic at offset 0)", where=where)
    members: list[ArMember] = []
    pos = 8
    while pos < len(data):
        if data[pos : pos + 1] == b"\n":  # tolerated odd padding
            pos += 1
            continue
        if pos + 60 > len(data):
            raise FormatError(f"ar header truncated at offset {pos}", where=where)
        head = data[pos : pos + 60]
        if head[58:60] != b"`\n":
            raise FormatError(f"bad ar header terminator at offset {pos + 58}", where=where)
        try:
            size = int(head[48:58].decode("ascii").strip() or "x")
            name = head[0:16].decode("ascii").rstrip(" ")
        except (UnicodeDecodeError, ValueError):
            raise FormatError(f"bad ar member header at offset {pos}", where=where) from None
        if size < 0 or size > len(data) - pos - 60:
            raise FormatError(
                f"ar member at offset {pos} claims {size} bytes past the end", where=where
            )
        if name.endswith("/") and name != "/":
            name = name[:-1]
        members.append(ArMember(name=name, data=data[pos + 60 : pos + 60 + size], offset=pos))
        if len(members) > MAX_MEMBERS:
            raise FormatError(f"more than {MAX_MEMBERS} ar members", where=where)
        pos += 60 + size + (size & 1)
    return tuple(members)
