"""gzip layers of ipks and opkg indexes: written like ``gzip -n``, read defensively.

Below ``PARALLEL_MIN`` the writer emits the single zlib stream ``gzip -n`` emits. Larger inputs are
deflated pigz-style in fixed chunks on every CPU (each primed with the previous 32 KiB) into one
gzip member: the bytes depend only on the input, never on the number of CPUs. The reader caps the
inflated size and reports faults as FormatError naming the byte offset.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kmodkit.errors import FormatError
from kmodkit.limits import MAX_UNPACKED_BYTES, charge_unpacked, unpack_cap

DEFAULT_MAX_UNPACKED = MAX_UNPACKED_BYTES  # far above any kmod, far below exhausting memory
PARALLEL_MIN = 1 << 20  # gzip input size from which deflate runs in chunks on every CPU
CHUNK = 128 * 1024  # pigz's default block: big enough that flushes cost ~0.01 %
WINDOW = 32 * 1024  # deflate's window, primed into each chunk from the bytes before it


@dataclass(frozen=True)
class GzipHeader:
    """The fields of a gzip member header that reproducibility depends on."""

    flags: int
    mtime: int
    xfl: int
    os: int
    filename: bytes | None

    @property
    def has_filename(self) -> bool:
        return self.filename is not None


def _gzip_header(level: int) -> bytes:
    xfl = 2 if level == 9 else 4 if level == 1 else 0
    return b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + bytes((xfl, 3))


def _deflate_chunk(data: memoryview, start: int, end: int, level: int) -> bytes:
    """Deflate ``data[start:end]`` as one piece of a stream that goes on from ``data[:start]``.

    The previous 32 KiB prime the window, so matches reach back across the chunk edge as in one
    stream; a sync flush ends the piece on a byte boundary (the last piece finishes the stream).
    """
    if level and start:
        zdict = data[max(0, start - WINDOW) : start]
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    last = end == len(data)
    body = compressor.compress(data[start:end])
    return body + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_compress(
    data: bytes | bytearray | memoryview,
    level: int = 6,
    *,
    max_workers: int | None = None,
    precompressed: tuple[int, int] = (0, 0),
) -> bytes:
    """Compress like ``gzip -n -<level>``: no name, mtime 0, OS byte 3 (Unix).

    Below PARALLEL_MIN bytes this is one zlib stream at memLevel 9 (GNU gzip's 32 KiB literal
    buffer), which often is gzip's very stream (the real 23.05 ipk and text indexes come out
    identical); the two deflaters may split blocks differently on mixed binary data, so only
    the header shape is guaranteed to match gzip.

    From PARALLEL_MIN on, pigz-style: fixed CHUNK-sized pieces, each primed with the 32 KiB
    before it, are deflated on ``max_workers`` threads (default: every CPU; zlib drops the
    GIL) and joined into one deflate stream in one gzip member. Chunk edges depend only on the
    input, so the bytes are the same on 1 or 64 CPUs, but they are not GNU gzip's (a few bytes
    larger). Chunks wholly inside the ``precompressed`` byte range ``[start, end)`` (say a
    gzip member inside a tar) go into stored blocks: searching them for matches costs as much
    as deflating fresh data and gains nothing.
    """
    view = memoryview(data).cast("B")
    head = _gzip_header(level)
    if len(view) < PARALLEL_MIN or len(view) <= CHUNK:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
        body = compressor.compress(view) + compressor.flush()
        return head + body + struct.pack("<II", zlib.crc32(view), len(view) & 0xFFFFFFFF)
    low, high = precompressed
    pieces = []
    for start in range(0, len(view), CHUNK):
        end = min(start + CHUNK, len(view))
        pieces.append((start, end, 0 if low <= start and end <= high else level))
    workers = max_workers if max_workers is not None else os.cpu_count() or 1
    if workers <= 1:
        crc = zlib.crc32(view)
        bodies = [_deflate_chunk(view, *piece) for piece in pieces]
    else:
        with ThreadPoolExecutor(workers) as pool:
            crc_job = pool.submit(zlib.crc32, view)
            bodies = list(pool.map(lambda piece: _deflate_chunk(view, *piece), pieces))
            crc = crc_job.result()
    trailer = struct.pack("<II", crc, len(view) & 0xFFFFFFFF)
    return b"".join((head, *bodies, trailer))


_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10


def _zero_terminated(data: bytes, start: int, where: str) -> tuple[bytes, int]:
    end = data.find(b"\x00", start)
    if end < 0:
        raise FormatError(f"gzip header field at offset {start} is not terminated", where=where)
    return data[start:end], end + 1


def gzip_decompress(
    data: bytes,
    where: str,
    max_size: int = DEFAULT_MAX_UNPACKED,
    limit_name: str = "MAX_UNPACKED_BYTES",
) -> tuple[bytes, GzipHeader]:
    """Inflate one gzip member (trailing NUL padding tolerated), at most ``max_size`` bytes.

    Inside ``limits.unpack_budget`` the cap is also what the input's budget has left, and the
    output is charged to it; the error names the limit that tripped.
    """
    if len(data) < 18:
        raise FormatError(f"gzip data truncated ({len(data)} bytes)", where=where)
    if data[:2] != b"\x1f\x8b":
        raise FormatError("not gzip data (bad magic at offset 0)", where=where)
    if data[2] != 8:
        raise FormatError(f"unknown gzip compression method {data[2]} at offset 2", where=where)
    flags = data[3]
    (mtime,) = struct.unpack_from("<I", data, 4)
    pos = 10
    if flags & _FEXTRA:
        if pos + 2 > len(data):
            raise FormatError("gzip extra field truncated at offset 10", where=where)
        (xlen,) = struct.unpack_from("<H", data, pos)
        pos += 2 + xlen
    filename = None
    if flags & _FNAME:
        filename, pos = _zero_terminated(data, pos, where)
    if flags & _FCOMMENT:
        _, pos = _zero_terminated(data, pos, where)
    if flags & _FHCRC:
        if pos + 2 <= len(data) and data[pos : pos + 2] != struct.pack(
            "<H", zlib.crc32(data[:pos]) & 0xFFFF
        ):
            raise FormatError(f"gzip header CRC mismatch at offset {pos}", where=where)
        pos += 2
    if pos > len(data):
        raise FormatError(f"gzip header runs past the end (offset {pos})", where=where)
    header = GzipHeader(flags=flags, mtime=mtime, xfl=data[8], os=data[9], filename=filename)
    cap = unpack_cap(max_size, limit_name)
    inflater = zlib.decompressobj(-15)
    try:  # a memoryview: no copy of the compressed bytes; never more than cap + 1 bytes out
        out = inflater.decompress(memoryview(data)[pos:], cap.size + 1)
    except zlib.error as exc:
        raise FormatError(
            f"corrupt deflate stream after offset {pos}: {exc}", where=where
        ) from None
    if len(out) > cap.size:
        raise cap.error("inflated gzip data", where)
    charge_unpacked(len(out), where)
    if not inflater.eof:
        raise FormatError(
            f"gzip data truncated (deflate stream ends early, {len(data)} bytes)", where=where
        )
    tail = inflater.unused_data
    trailer_at = len(data) - len(tail)
    if len(tail) < 8:
        raise FormatError(f"gzip trailer truncated at offset {trailer_at}", where=where)
    crc, isize = struct.unpack_from("<II", tail, 0)
    if crc != zlib.crc32(out) or isize != len(out) & 0xFFFFFFFF:
        raise FormatError(
            f"gzip CRC/size mismatch in the trailer at offset {trailer_at}", where=where
        )
    if tail[8:].strip(b"\x00"):
        raise FormatError(
            f"unexpected data after the gzip member at offset {trailer_at + 8}", where=where
        )
    return out, header
