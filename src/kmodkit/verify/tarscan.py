"""A strict, fast reader of the raw structure of gzip streams and tar archives.

The verifier looks at what a generic tar library hides (header magic, PAX records, owner
names, padding), so it walks the 512-byte headers itself. Raises FormatError with the byte
offset on anything truncated or malformed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from zlib import adler32

from kmodkit.errors import FormatError

BLOCK = 512


@dataclass(frozen=True)
class GzipHeader:
    has_name: bool
    mtime: int
    os: int


class TarMember:
    """One tar header and its payload (a slotted plain class: feeds hold tens of thousands)."""

    __slots__ = (
        "data",
        "gid",
        "gname",
        "linkname",
        "magic",
        "mode",
        "mtime",
        "name",
        "size",
        "typeflag",
        "uid",
        "uname",
    )

    def __init__(
        self,
        name: str,  # as stored (``./control``)
        typeflag: str,  # "0" file, "5" dir, "2" symlink, "x"/"g" PAX, "L"/"K" GNU long names
        size: int,
        mode: int,
        uid: int,
        gid: int,
        uname: str,
        gname: str,
        mtime: int,
        magic: str,  # "gnu", "ustar" or "v7"
        linkname: str,
        data: bytes,
    ) -> None:
        self.name = name
        self.typeflag = typeflag
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.uname = uname
        self.gname = gname
        self.mtime = mtime
        self.magic = magic
        self.linkname = linkname
        self.data = data

    def __repr__(self) -> str:
        return f"TarMember({self.name!r}, {self.typeflag!r}, size={self.size})"


def gunzip(data: bytes, where: str) -> tuple[GzipHeader, bytes]:
    """Header fields and the decompressed bytes of one gzip member (trailing data rejected)."""
    if len(data) < 18 or data[:2] != b"\x1f\x8b":
        raise FormatError("not a gzip stream (bad magic)", where=f"{where}@0")
    flags = data[3]
    mtime = struct.unpack_from("<I", data, 4)[0]
    header = GzipHeader(has_name=bool(flags & 0x08), mtime=mtime, os=data[9])
    decomp = zlib.decompressobj(wbits=31)
    try:
        out = decomp.decompress(data)
    except zlib.error as exc:
        raise FormatError(f"corrupt gzip stream: {exc}", where=where) from None
    if not decomp.eof:
        raise FormatError(
            f"truncated gzip stream ({len(data)} bytes, end of stream not reached)", where=where
        )
    if decomp.unused_data.strip(b"\0"):
        raise FormatError(
            f"{len(decomp.unused_data)} unexpected bytes after the gzip stream", where=where
        )
    return header, out


_ZERO_BLOCK = bytes(BLOCK)


def _octal(field: bytes, where: str, offset: int) -> int:
    if field[0] & 0x80:  # GNU base-256 for big numbers
        return int.from_bytes(field[1:], "big")
    try:  # fast path: digits padded with NULs/spaces
        return int(field.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        pass
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise FormatError(
            f"bad octal number {text!r} in tar header", where=f"{where}@{offset}"
        ) from None


def _text(field: bytes) -> str:
    raw = field.split(b"\0", 1)[0]
    return raw.decode("utf-8", "replace") if raw else ""


# name mode uid gid size mtime chksum typeflag linkname magic+version uname gname
# devmajor devminor prefix (pad): the ustar header layout, one unpack per header
_HEADER = struct.Struct("100s8s8s8s12s12s8sB100s8s32s32s8x8x155s12x")
_MAGIC = {b"ustar  \0": "gnu"}
# raw numeric field -> value: owners, modes and the one mtime repeat in every header
_NUMBERS: dict[bytes, int] = {}
_NUMBERS_MAX = 4096


def _byte_sum(block: bytes) -> int:
    """Sum of a 512-byte header's bytes, via adler32 (C speed; ``sum`` was a top cost).

    adler32's low half is (1 + sum of bytes) mod 65521; 256 bytes sum to at most 65280, so
    for each half of the header that value is exact.
    """
    return (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2


def _number(field: bytes, where: str, offset: int) -> int:
    value = _NUMBERS.get(field)
    if value is None:
        value = _octal(field, where, offset)
        if len(_NUMBERS) < _NUMBERS_MAX:
            _NUMBERS[field] = value
    return value


def read_tar(data: bytes, where: str) -> list[TarMember]:
    """Every header of a tar archive in order (PAX and GNU long-name records included)."""
    members: list[TarMember] = []
    offset = 0
    long_name: str | None = None
    long_link: str | None = None
    total = len(data)
    while True:
        if offset + BLOCK > total:
            raise FormatError(
                "truncated tar archive (no end-of-archive block)", where=f"{where}@{offset}"
            )
        header = data[offset : offset + BLOCK]
        if header == _ZERO_BLOCK:
            return members
        at = offset
        (
            raw_name,
            raw_mode,
            raw_uid,
            raw_gid,
            raw_size,
            raw_mtime,
            raw_check,
            type_byte,
            raw_link,
            raw_magic,
            raw_uname,
            raw_gname,
            raw_prefix,
        ) = _HEADER.unpack(header)
        stored = _number(raw_check, where, at + 148)
        if stored != _byte_sum(header) - sum(raw_check) + 8 * 32:
            raise FormatError("bad tar header checksum", where=f"{where}@{offset}")
        size = _number(raw_size, where, at + 124)
        magic = _MAGIC.get(raw_magic) or ("ustar" if raw_magic[:6] == b"ustar\0" else "v7")
        name = _text(raw_name)
        if magic == "ustar" and raw_prefix[0]:
            name = _text(raw_prefix) + "/" + name
        start = offset + BLOCK
        end = start + size
        if end > total:
            raise FormatError(
                f"truncated tar member {name!r} ({size} bytes declared)", where=f"{where}@{at}"
            )
        typeflag = chr(type_byte) if type_byte else "0"
        payload = data[start:end]
        offset = start + (size + BLOCK - 1) // BLOCK * BLOCK
        if typeflag in "LK":  # GNU long name / long link: applies to the next header
            text = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
            long_name, long_link = (text, long_link) if typeflag == "L" else (long_name, text)
            continue
        linkname = _text(raw_link) if raw_link[0] else ""
        name, long_name = long_name or name, None
        linkname, long_link = long_link or linkname, None
        members.append(
            TarMember(
                name,
                typeflag,
                size,
                _number(raw_mode, where, at + 100),
                _number(raw_uid, where, at + 108),
                _number(raw_gid, where, at + 116),
                _text(raw_uname) if raw_uname[0] else "",
                _text(raw_gname) if raw_gname[0] else "",
                _number(raw_mtime, where, at + 136),
                magic,
                linkname,
                payload,
            )
        )
