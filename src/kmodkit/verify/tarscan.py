"""A strict, fast reader of the raw structure of gzip streams and tar archives.

The verifier looks at what a generic tar library hides (header magic, PAX records, owner
names, padding), so it walks the 512-byte headers itself. Raises FormatError with the byte
offset on anything truncated or malformed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from kmodkit.errors import FormatError

BLOCK = 512


@dataclass(frozen=True)
class GzipHeader:
    has_name: bool
    mtime: int
    os: int


@dataclass(frozen=True)
class TarMember:
    name: str  # as stored (``./control``)
    typeflag: str  # "0" file, "5" dir, "2" symlink, "x"/"g" PAX, "L"/"K" GNU long names
    size: int
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    mtime: int
    magic: str  # "gnu", "ustar" or "v7"
    linkname: str
    data: bytes


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


def read_tar(data: bytes, where: str) -> list[TarMember]:
    """Every header of a tar archive in order (PAX and GNU long-name records included)."""
    members: list[TarMember] = []
    offset = 0
    long_name: str | None = None
    long_link: str | None = None
    while True:
        if offset + BLOCK > len(data):
            raise FormatError(
                "truncated tar archive (no end-of-archive block)", where=f"{where}@{offset}"
            )
        header = data[offset : offset + BLOCK]
        if header == _ZERO_BLOCK:
            return members
        at = offset
        stored = _octal(header[148:156], where, at + 148)
        check = sum(header) - sum(header[148:156]) + 8 * 32
        if stored != check:
            raise FormatError("bad tar header checksum", where=f"{where}@{offset}")
        size = _octal(header[124:136], where, at + 124)
        raw_magic = header[257:265]
        magic = (
            "gnu" if raw_magic == b"ustar  \0" else "ustar" if raw_magic[:6] == b"ustar\0" else "v7"
        )
        name = _text(header[0:100])
        if magic == "ustar" and header[345]:
            name = _text(header[345:500]) + "/" + name
        start = offset + BLOCK
        end = start + size
        if end > len(data):
            raise FormatError(
                f"truncated tar member {name!r} ({size} bytes declared)", where=f"{where}@{at}"
            )
        typeflag = chr(header[156]) if header[156] else "0"
        payload = data[start:end]
        offset = start + (size + BLOCK - 1) // BLOCK * BLOCK
        if typeflag in "LK":  # GNU long name / long link: applies to the next header
            text = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
            long_name, long_link = (text, long_link) if typeflag == "L" else (long_name, text)
            continue
        linkname = _text(header[157:257])
        name, long_name = long_name or name, None
        linkname, long_link = long_link or linkname, None
        members.append(
            TarMember(
                name=name,
                typeflag=typeflag,
                size=size,
                mode=_octal(header[100:108], where, at + 100),
                uid=_octal(header[108:116], where, at + 108),
                gid=_octal(header[116:124], where, at + 116),
                uname=_text(header[265:297]),
                gname=_text(header[297:329]),
                mtime=_octal(header[136:148], where, at + 136),
                magic=magic,
                linkname=linkname,
                data=payload,
            )
        )
