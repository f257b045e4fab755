"""apk-tools v3 "ADB" container: values, blocks, compression (mirrors apk-tools' adb.c/adb_comp.c).

This layer knows nothing about packages: it reads and writes typed 32-bit values inside one ADB
block payload, frames blocks (ADB, SIG, DATA) in a file and handles the ``ADBd``/``ADBc``
compression wrappers. Schemas live in ``apk_schema``; packages and indexes in ``apk``/``apk_index``.

Every reader check raises ``FormatError`` naming the byte offset, because verify runs these
readers on untrusted downloads: no IndexError/struct.error, and decompression streams under an
output cap (``kmodkit.limits``), so a small zstd bomb never unpacks before being refused.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import zstandard

from kmodkit.errors import FormatError
from kmodkit.limits import MAX_UNPACKED_BYTES, ZSTD_MAX_WINDOW_BYTES, charge_unpacked, unpack_cap

MAGIC = b"ADB."
SCHEMA_PACKAGE = 0x676B6370  # "pckg"
SCHEMA_INDEX = 0x78646E69  # "indx"

# Value types: the top 4 bits of a u32le value.
T_SPECIAL = 0x0
T_INT = 0x1
T_INT32 = 0x2
T_INT64 = 0x3
T_BLOB8 = 0x8
T_BLOB16 = 0x9
T_BLOB32 = 0xA
T_ARRAY = 0xD
T_OBJECT = 0xE
VALUE_MASK = 0x0FFFFFFF
NULL = 0

BLOCK_ADB = 0
BLOCK_SIG = 1
BLOCK_DATA = 2
BLOCK_EXT = 3
BLOCK_ALIGN = 8
BLOCK_NAMES = {BLOCK_ADB: "ADB", BLOCK_SIG: "SIG", BLOCK_DATA: "DATA"}
HEADER_SIZE = 8  # u8 compat, u8 ver, u16 reserved, u32 root

# apk writes ADBd with zlib's best compression (level 9 reproduces apk mkpkg's bytes).
DEFLATE_LEVEL = 9
DEFAULT_MAX_SIZE = MAX_UNPACKED_BYTES
ZSTD_INPUT_STEP = 256  # zstd input fed per step: at most ~8 MiB out per step (RLE blocks)

Compression = Literal["none", "deflate", "zstd"]


def make_val(vtype: int, value: int) -> int:
    return (vtype << 28) | value


def val_type(val: int) -> int:
    return val >> 28


def val_value(val: int) -> int:
    return val & VALUE_MASK


# --------------------------------------------------------------------------- reading values


class TooManyValues(Exception):
    """``AdbReader.slots`` found more values than the caller's ``at_most`` (it names its limit)."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class AdbReader:
    """Bounds-checked access to the values of one ADB block payload."""

    def __init__(self, payload: bytes, where: str = "<adb>") -> None:
        self.data = payload
        self.where = where
        self.misaligned: list[int] = []  # apk tolerates these; verify reports them
        self._misaligned_seen: set[int] = set()
        if len(payload) < HEADER_SIZE:
            raise FormatError(f"ADB block too short ({len(payload)} bytes)", where=where)
        if payload[0] != 0:
            raise FormatError(f"unsupported ADB compat version {payload[0]}", where=where)

    def fail(self, message: str, offset: int) -> FormatError:
        return FormatError(f"{message} at ADB offset {offset}", where=self.where)

    @property
    def root(self) -> int:
        return int.from_bytes(self.data[4:8], "little")

    def _span(self, offset: int, size: int) -> bytes:
        if offset + size > len(self.data):
            raise self.fail(f"value of {size} bytes runs past the end ({len(self.data)})", offset)
        return self.data[offset : offset + size]

    def integer(self, val: int) -> int | None:
        vtype, off = val_type(val), val_value(val)
        if val == NULL:
            return None
        if vtype == T_INT:
            return off
        if vtype == T_INT32:
            return int.from_bytes(self._span(off, 4), "little")
        if vtype == T_INT64:
            return int.from_bytes(self._span(off, 8), "little")
        raise self.fail(f"expected an integer, found value type {vtype:#x}", off)

    def blob(self, val: int) -> bytes | None:
        vtype, off = val_type(val), val_value(val)
        if val == NULL:
            return None
        if vtype == T_BLOB8:
            return self._span(off + 1, self._span(off, 1)[0])
        if vtype == T_BLOB16:
            return self._span(off + 2, int.from_bytes(self._span(off, 2), "little"))
        if vtype == T_BLOB32:
            return self._span(off + 4, int.from_bytes(self._span(off, 4), "little"))
        raise self.fail(f"expected a blob, found value type {vtype:#x}", off)

    def slots(self, val: int, at_most: int | None = None) -> list[int]:
        """The values of an object or array (index 1..n-1); empty for null.

        With ``at_most``, more values than that raise ``TooManyValues`` before any is unpacked
        (a 4-byte count may claim millions).
        """
        vtype, off = val_type(val), val_value(val)
        if val == NULL:
            return []
        if vtype not in (T_ARRAY, T_OBJECT):
            raise self.fail(f"expected an object or array, found value type {vtype:#x}", off)
        if off % 4 and off not in self._misaligned_seen:
            self._misaligned_seen.add(off)
            self.misaligned.append(off)
        num = int.from_bytes(self._span(off, 4), "little")
        if num == 0:
            return []
        if at_most is not None and num - 1 > at_most:
            raise TooManyValues(num - 1)
        raw = self._span(off, 4 * num)
        return list(struct.unpack_from(f"<{num - 1}I", raw, 4))

    def raw_item(self, val: int) -> tuple[bytes, int]:
        """The stored bytes of a blob/int/object value and its alignment (used to copy it)."""
        vtype, off = val_type(val), val_value(val)
        if vtype == T_INT32:
            return self._span(off, 4), 4
        if vtype == T_INT64:
            return self._span(off, 8), 4
        if vtype == T_BLOB8:
            return self._span(off, 1 + self._span(off, 1)[0]), 1
        if vtype == T_BLOB16:
            return self._span(off, 2 + int.from_bytes(self._span(off, 2), "little")), 2
        if vtype == T_BLOB32:
            return self._span(off, 4 + int.from_bytes(self._span(off, 4), "little")), 4
        raise self.fail(f"cannot copy value type {vtype:#x}", off)


# --------------------------------------------------------------------------- writing values


class AdbWriter:
    """Builds one ADB payload the way apk-tools' adb_w_* do, including value de-duplication.

    apk writes every blob/int/object through a hash table and reuses an earlier identical item
    when its offset is suitably aligned; reproducing that is what makes our bytes equal apk's.
    """

    def __init__(self) -> None:
        self.buf = bytearray(HEADER_SIZE)
        self._seen: dict[bytes, int] = {}

    def _raw(self, data: bytes, align: int) -> int:
        pad = -len(self.buf) % align
        if pad:
            self.buf += bytes(pad)
        offset = len(self.buf)
        if offset + len(data) > VALUE_MASK:
            raise FormatError("ADB block exceeds the 256 MiB offset range")
        self.buf += data
        return offset

    def _data(self, data: bytes, align: int, dedup: bool = True) -> int:
        if not dedup:
            return self._raw(data, align)
        offset = self._seen.get(data)
        if offset is not None and offset % align == 0:
            return offset
        offset = self._raw(data, align)
        self._seen[data] = offset
        return offset

    def blob(self, data: bytes, *, dedup: bool = True) -> int:
        n = len(data)
        if n == 0:
            return NULL
        if n > 0xFFFF:
            return make_val(T_BLOB32, self._data(n.to_bytes(4, "little") + data, 4, dedup))
        if n > 0xFF:
            return make_val(T_BLOB16, self._data(n.to_bytes(2, "little") + data, 2, dedup))
        return make_val(T_BLOB8, self._data(bytes([n]) + data, 1, dedup))

    def integer(self, value: int) -> int:
        if value < 0 or value >= 1 << 64:
            raise FormatError(f"integer {value} out of the ADB range")
        if value >= 1 << 32:
            return make_val(T_INT64, self._data(value.to_bytes(8, "little"), 4))
        if value >= 1 << 28:
            return make_val(T_INT32, self._data(value.to_bytes(4, "little"), 4))
        return make_val(T_INT, value)

    def obj(self, slots: Sequence[int], vtype: int = T_OBJECT) -> int:
        """Write ``[n, slots...]`` with trailing nulls trimmed; all-null gives null."""
        n = len(slots)
        while n and slots[n - 1] == NULL:
            n -= 1
        if n == 0:
            return NULL
        data = struct.pack(f"<{n + 1}I", n + 1, *slots[:n])
        return make_val(vtype, self._data(data, 4))

    def copy(self, src: AdbReader, val: int) -> int:
        """Deep-copy a value from another ADB (adb_w_copy): children first, then the object."""
        vtype = val_type(val)
        if vtype in (T_SPECIAL, T_INT):
            return val
        if vtype in (T_ARRAY, T_OBJECT):
            return self.obj([self.copy(src, v) for v in src.slots(val)], vtype)
        data, align = src.raw_item(val)
        return make_val(vtype, self._data(data, align))

    def set_root(self, val: int) -> None:
        self.buf[4:8] = val.to_bytes(4, "little")

    def payload(self) -> bytes:
        return bytes(self.buf)


# --------------------------------------------------------------------------- blocks and files


@dataclass(frozen=True)
class Block:
    """One framed block; ``offset`` is where its header starts in the uncompressed stream.

    ``data`` is a view into the stream (DATA blocks can be most of it: no copy); ``payload``
    copies it, for the small ADB and SIG blocks.
    """

    type: int
    offset: int
    size: int  # payload length
    data: memoryview

    @property
    def payload(self) -> bytes:
        return bytes(self.data)

    @property
    def type_name(self) -> str:
        return BLOCK_NAMES.get(self.type, str(self.type))


@dataclass(frozen=True)
class Container:
    schema: int
    compression: Compression
    blocks: tuple[Block, ...]
    stream: bytes  # the uncompressed "ADB." stream

    @property
    def adb(self) -> bytes:
        return self.blocks[0].payload  # a fresh copy on every access: keep it


def frame_block(btype: int, payload: bytes) -> bytes:
    if len(payload) <= 0x3FFFFFFF - 4:
        header = ((btype << 30) | (4 + len(payload))).to_bytes(4, "little")
    else:
        raw = 16 + len(payload)
        header = struct.pack("<IIQ", (BLOCK_EXT << 30) | btype, 0, raw)
    body = header + payload
    return body + bytes(-len(body) % BLOCK_ALIGN)


def build_stream(schema: int, blocks: Sequence[tuple[int, bytes]]) -> bytes:
    parts = [MAGIC, schema.to_bytes(4, "little")]
    parts += [frame_block(btype, payload) for btype, payload in blocks]
    return b"".join(parts)


def compress(stream: bytes, compression: Compression) -> bytes:
    if compression == "none":
        return stream
    if compression == "deflate":
        co = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15, 8)
        return b"ADBd" + co.compress(stream) + co.flush()
    if compression == "zstd":
        return b"ADBc" + bytes([2, 3]) + zstandard.ZstdCompressor(level=3).compress(stream)
    raise FormatError(f"unknown ADB compression {compression!r}")


def _inflate(data: bytes, where: str, max_size: int) -> bytes:
    cap = unpack_cap(max_size)
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, cap.size + 1)
    except zlib.error as exc:
        raise FormatError(f"corrupt deflate stream: {exc}", where=where) from None
    if len(out) > cap.size:
        raise cap.error("decompressed ADB stream", where)
    if not d.eof:
        raise FormatError(f"deflate stream truncated after {len(out)} bytes", where=where)
    charge_unpacked(len(out), where)
    return out


def _unzstd(data: bytes, where: str, max_size: int) -> bytes:
    """One zstd frame, fed in small steps so the output is checked before it can grow big."""
    cap = unpack_cap(max_size)
    chunks: list[bytes] = []
    total = 0
    try:
        d = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW_BYTES).decompressobj()
        view = memoryview(data)
        for start in range(0, len(view), ZSTD_INPUT_STEP):
            chunk = d.decompress(view[start : start + ZSTD_INPUT_STEP])
            total += len(chunk)
            if total > cap.size:
                raise cap.error("decompressed ADB stream", where)
            chunks.append(chunk)
            if d.eof:
                break
    except zstandard.ZstdError as exc:
        text = str(exc)
        if "Frame requires too much memory" in text or "Unsupported frame parameter" in text:
            text += f" (window over the ZSTD_MAX_WINDOW_BYTES limit, {ZSTD_MAX_WINDOW_BYTES})"
        raise FormatError(f"corrupt zstd stream: {text}", where=where) from None
    if not d.eof:
        raise FormatError(f"zstd stream truncated after {total} bytes", where=where)
    charge_unpacked(total, where)
    return b"".join(chunks)


def decompress(
    data: bytes, where: str, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[bytes, Compression]:
    """Detect ``ADB.`` / ``ADBd`` / ``ADBc<alg><level>`` and return the plain stream."""
    head = data[:4]
    if head == MAGIC:
        return data, "none"
    if head == b"ADBd":
        return _inflate(data[4:], where, max_size), "deflate"
    if head == b"ADBc":
        if len(data) < 6:
            raise FormatError("truncated ADBc header at byte 4", where=where)
        alg = data[4]
        if alg == 0:
            return data[6:], "none"
        if alg == 1:
            return _inflate(data[6:], where, max_size), "deflate"
        if alg == 2:
            return _unzstd(data[6:], where, max_size), "zstd"
        raise FormatError(f"unknown ADBc compression algorithm {alg} at byte 4", where=where)
    raise FormatError(f"not an apk v3 file: magic {head!r} at byte 0", where=where)


def parse_container(
    data: bytes,
    where: str,
    *,
    expected_schema: int | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Container:
    """Split a file into its blocks, checking the order apk enforces (ADB, SIG*, DATA*)."""
    stream, compression = decompress(data, where, max_size)
    if len(stream) < 8 or stream[:4] != MAGIC:
        raise FormatError(f"bad ADB header {stream[:4]!r} at byte 0", where=where)
    schema = int.from_bytes(stream[4:8], "little")
    if expected_schema is not None and schema != expected_schema:
        raise FormatError(
            f"schema {schema:#010x} where {expected_schema:#010x} was expected at byte 4",
            where=where,
        )
    blocks: list[Block] = []
    view = memoryview(stream)
    allowed = {BLOCK_ADB}
    pos = 8
    while pos < len(stream):
        if pos + 4 > len(stream):
            raise FormatError(f"truncated block header at byte {pos}", where=where)
        word = int.from_bytes(stream[pos : pos + 4], "little")
        btype, raw = word >> 30, word & 0x3FFFFFFF
        hdr = 4
        if btype == BLOCK_EXT:
            if pos + 16 > len(stream):
                raise FormatError(f"truncated extended block header at byte {pos}", where=where)
            btype, hdr = word & 0x3FFFFFFF, 16
            raw = int.from_bytes(stream[pos + 8 : pos + 16], "little")
        if raw < hdr:
            raise FormatError(
                f"block size {raw} smaller than its header at byte {pos}", where=where
            )
        padded = raw + (-raw % BLOCK_ALIGN)
        if pos + padded > len(stream):
            raise FormatError(
                f"block of {raw} bytes at byte {pos} runs past the end ({len(stream)})",
                where=where,
            )
        if btype not in allowed:
            raise FormatError(
                f"unexpected {BLOCK_NAMES.get(btype, btype)} block at byte {pos}", where=where
            )
        if btype == BLOCK_ADB:
            if raw - hdr < HEADER_SIZE:
                raise FormatError(f"ADB block too short at byte {pos}", where=where)
            allowed = {BLOCK_SIG, BLOCK_DATA}
        elif btype == BLOCK_DATA:
            allowed = {BLOCK_DATA}
        blocks.append(Block(btype, pos, raw - hdr, view[pos + hdr : pos + raw]))
        pos += padded
    if not blocks:
        raise FormatError("no ADB block", where=where)
    return Container(schema, compression, tuple(blocks), stream)
