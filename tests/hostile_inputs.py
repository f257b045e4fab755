"""Crafted hostile inputs, each under 10 MB, for the bounded-resources matrix and its bench.

Every case is something a package author or a feed server can hand to ``verify``: compression
bombs in every layer (gzip, deflate, zstd), ADB blocks whose shared values decode into
gigabytes, non-regular files posing as packages, indexes and keys, packages whose combined
data is larger than memory should hold, huge member counts. ``write_cases`` writes them and
says, for each, the verify arguments and a word its output must contain (the named limit or
the cause), so tests/test_hostile_inputs.py and bench/bench_hostile_inputs.py share them.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.formats import adb
from kmodkit.formats.adb import AdbWriter
from kmodkit.formats.gzipio import gzip_compress
from kmodkit.formats.tarball import TarMember, write_gnu_tar

GiB = 1 << 30
MiB = 1 << 20
EPOCH = 1735689600
TEN_MB = 10_000_000


@dataclass(frozen=True)
class Case:
    name: str
    paths: list[str]
    expect: str  # a word the report or error must contain: the limit or the cause
    index: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- bombs


def deflate_bomb(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes, built without ever holding them.

    A full flush makes each 1 MiB piece independent and byte-aligned, so one compressed piece
    repeated is a valid stream (about 1 KB per MiB).
    """
    piece_len = MiB
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = co.compress(bytes(piece_len)) + co.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    return piece * (size // piece_len) + final


def gzip_bomb(size: int) -> bytes:
    """A gzip member claiming ``size`` zero bytes (the trailer CRC is not computed)."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
    return header + deflate_bomb(size) + struct.pack("<II", 0, size & 0xFFFFFFFF)


def zstd_bomb(prefix: bytes, size: int) -> bytes:
    """A zstd frame: ``prefix`` in a raw block, then RLE blocks of zeros (4 bytes per 128 KiB).

    The frame states no content size, so only decompressing tells how big it is: 131 KB of it
    stand for 4 GiB.
    """
    frame = b"\x28\xb5\x2f\xfd" + bytes([0x00, 7 << 3])  # no FCS, 128 KiB window
    frame += ((len(prefix) << 3) | (0 << 1)).to_bytes(3, "little") + prefix
    block = 128 * 1024
    count = size // block
    rle = ((block << 3) | (1 << 1)).to_bytes(3, "little") + b"\x00"
    last = ((block << 3) | (1 << 1) | 1).to_bytes(3, "little") + b"\x00"
    return frame + rle * (count - 1) + last


def adb_head(schema: int) -> bytes:
    return adb.MAGIC + schema.to_bytes(4, "little")


# --------------------------------------------------------------------------- ipk pieces


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = [TarMember("./", "dir", 0o755, mtime=EPOCH)]
    out += [TarMember(name, "file", 0o644, data, mtime=EPOCH) for name, data in members]
    return write_gnu_tar(out)


def control_gz(name: str, installed: int = 1) -> bytes:
    control = (
        f"Package: {name}\nVersion: 1.0-r1\nDepends: libc\nSource: x\nSourceName: {name}\n"
        f"License: GPL-2.0\nSection: kernel\nSourceDateEpoch: {EPOCH}\n"
        f"Architecture: x86_64\nInstalled-Size: {installed}\nDescription: hostile\n"
    )
    return gzip_compress(_tar([("./control", control.encode())]))


def ipk(name: str, data_gz: bytes, padding: int = 0) -> bytes:
    outer = [
        ("./debian-binary", b"2.0\n"),
        ("./data.tar.gz", data_gz),
        ("./control.tar.gz", control_gz(name)),
    ]
    if padding:  # an extra outer member: the outer layer alone inflates to ``padding`` bytes
        outer.append(("./padding", bytes(padding)))
    return gzip_compress(_tar(outer), level=1)


def long_control(lines: int) -> bytes:
    head = "Package: cont\nVersion: 1.0-r1\nArchitecture: x86_64\nInstalled-Size: 1\n"
    return (head + "Description: x\n" + " x\n" * lines).encode()


def ipk_with_control(control: bytes) -> bytes:
    outer = [
        ("./debian-binary", b"2.0\n"),
        ("./data.tar.gz", big_file_data_gz(10)),
        ("./control.tar.gz", gzip_compress(_tar([("./control", control)]))),
    ]
    return gzip_compress(_tar(outer), level=1)


def big_file_data_gz(size: int) -> bytes:
    """data.tar.gz holding one ``size``-byte module-named file of zeros (honest, just big)."""
    return gzip_compress(_tar([("./lib/modules/6.6.93/big.ko", bytes(size))]), level=1)


def many_members_data_gz(count: int, suffix: str = "") -> bytes:
    return gzip_compress(_tar([(f"./f/{i:07d}{suffix}", b"x") for i in range(count)]), level=1)


# --------------------------------------------------------------------------- ADB pieces


def shared_index() -> bytes:
    """packages.adb of < 1 KB whose one package object is referenced 200,000 times."""
    w = AdbWriter()
    dep = w.obj([w.blob(b"libc"), w.blob(b"1.0"), w.integer(2)])
    deps = w.obj([dep] * 8, adb.T_ARRAY)
    info = w.obj(
        [w.blob(b"p"), w.blob(b"1.0-r1"), w.blob(b"h" * 20), w.blob(b"d"), w.blob(b"x86_64")]
        + [adb.NULL] * 6
        + [w.integer(10), w.integer(20), adb.NULL, deps]
    )
    w.set_root(w.obj([w.blob(b"idx"), w.obj([info] * 200_000, adb.T_ARRAY)]))
    stream = adb.build_stream(adb.SCHEMA_INDEX, [(adb.BLOCK_ADB, w.payload())])
    return adb.compress(stream, "deflate")


def shared_blob_apk() -> bytes:
    """An apk whose 60 KB directory name is shared by 3,000 directories (180 MB decoded)."""
    w = AdbWriter()
    directory = w.obj([w.blob(b"d" * 60_000)])
    info = w.obj([w.blob(b"p"), w.blob(b"1.0-r1"), adb.NULL, w.blob(b"d"), w.blob(b"x86_64")])
    w.set_root(w.obj([info, w.obj([directory] * 3000, adb.T_ARRAY)]))
    stream = adb.build_stream(adb.SCHEMA_PACKAGE, [(adb.BLOCK_ADB, w.payload())])
    return adb.compress(stream, "deflate")


# --------------------------------------------------------------------------- the cases


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert len(data) < TEN_MB, (path, len(data))
    return str(path)


def _dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bombs(root: Path) -> list[Case]:
    schema = adb.SCHEMA_PACKAGE
    zstd_apk = b"ADBc\x02\x03" + zstd_bomb(adb_head(schema), 4 * GiB)
    zstd_index = b"ADBc\x02\x03" + zstd_bomb(adb_head(adb.SCHEMA_INDEX), 4 * GiB)
    gz_index = _dir(root, "packages-gz-bomb")
    _write(gz_index / "Packages", b"Package: a\nVersion: 1\nArchitecture: all\n")
    _write(gz_index / "Packages.gz", gzip_bomb(4 * GiB))
    base = _dir(root, "index-gz-bomb")
    _write(base / "Packages.gz", gzip_bomb(4 * GiB))
    loose = _write(root / "loose" / "a_1.0-r1_x86_64.ipk", ipk("a", big_file_data_gz(1024)))
    # each layer is under MAX_UNPACKED_BYTES (outer 60 MiB, data 100 MiB), the two are not
    layered = ipk("budget", big_file_data_gz(100 * MiB), padding=60 * MiB)
    return [
        Case("zstd-bomb.apk", [_write(root / "zstd-bomb.apk", zstd_apk)], "MAX_UNPACKED_BYTES"),
        Case(
            "zstd-bomb packages.adb",
            [_write(_dir(root, "zstd-index") / "packages.adb", zstd_index)],
            "MAX_UNPACKED_BYTES",
        ),
        Case(
            "deflate-bomb.apk",
            [_write(root / "deflate-bomb.apk", b"ADBd" + deflate_bomb(4 * GiB))],
            "MAX_UNPACKED_BYTES",
        ),
        Case(
            "gzip-bomb.ipk (outer)",
            [_write(root / "outer-bomb_1_x86_64.ipk", gzip_bomb(6 * GiB))],
            "MAX_UNPACKED_BYTES",
        ),
        Case(
            "gzip-bomb.ipk (data.tar.gz)",
            [_write(root / "inner-bomb_1_x86_64.ipk", ipk("inner-bomb", gzip_bomb(6 * GiB)))],
            "MAX_UNPACKED_BYTES",
        ),
        Case(
            "layers over the budget.ipk",
            [_write(root / "budget_1_x86_64.ipk", layered)],
            "MAX_UNPACKED_BYTES",
        ),
        Case("Packages.gz bomb", [str(gz_index)], "Packages.gz"),
        Case("--index Packages.gz bomb", [loose], "MAX_INDEX_FILE_BYTES", index=[str(base)]),
    ]


def _adb(root: Path) -> list[Case]:
    return [
        Case(
            "shared ADB values packages.adb",
            [_write(_dir(root, "adb-shared") / "packages.adb", shared_index())],
            "MAX_ADB_VALUES",
        ),
        Case(
            "shared ADB blob .apk",
            [_write(root / "adb-blob.apk", shared_blob_apk())],
            "MAX_ADB_DECODED_BYTES",
        ),
    ]


def _special(root: Path) -> list[Case]:
    fifo_dir = _dir(root, "fifo")
    os.mkfifo(fifo_dir / "a_1_x86_64.ipk")
    zero_dir = _dir(root, "zero")
    os.symlink("/dev/zero", zero_dir / "a_1_x86_64.ipk")
    zero_index = _dir(root, "zero-index")
    os.symlink("/dev/zero", zero_index / "Packages")
    fifo_index = _dir(root, "fifo-index")
    os.mkfifo(fifo_index / "Packages")
    zero_adb = _dir(root, "zero-adb")
    os.symlink("/dev/zero", zero_adb / "packages.adb")
    fifo_adb = _dir(root, "fifo-adb")
    os.mkfifo(fifo_adb / "packages.adb")
    zero_key = _dir(root, "zero-key")
    _write(zero_key / "a_1.0-r1_x86_64.ipk", ipk("a", big_file_data_gz(1024)))
    _dir(zero_key, "keys")
    os.symlink("/dev/zero", zero_key / "keys" / "key.pub")
    return [
        Case("FIFO *.ipk", [str(fifo_dir)], "not a regular file"),
        Case("*.ipk -> /dev/zero", [str(zero_dir)], "not a regular file"),
        Case("Packages -> /dev/zero", [str(zero_index)], "not a regular file"),
        Case("FIFO Packages", [str(fifo_index)], "not a regular file"),
        Case("packages.adb -> /dev/zero", [str(zero_adb)], "not a regular file"),
        Case("FIFO packages.adb", [str(fifo_adb)], "not a regular file"),
        Case("keys/key.pub -> /dev/zero", [str(zero_key)], "not a regular file"),
    ]


def _many(root: Path) -> list[Case]:
    four = _dir(root, "four-big")
    data = big_file_data_gz(100 * MiB)
    for i in range(4):
        _write(four / f"big{i}_1.0-r1_x86_64.ipk", ipk(f"big{i}", data))
    return [
        Case("four 100 MiB packages", [str(four)], "big3"),
        Case(
            "100,001 tar members.ipk",
            [_write(root / "members_1_x86_64.ipk", ipk("members", many_members_data_gz(100_001)))],
            "tar members",
        ),
        Case(
            "2,000,000 control continuation lines.ipk",
            [_write(root / "cont_1_x86_64.ipk", ipk_with_control(long_control(2_000_000)))],
            "passed,",
        ),
        Case(
            "20,000 bad .ko files.ipk",
            [_write(root / "kos_1_x86_64.ipk", ipk("kos", many_members_data_gz(20_000, ".ko")))],
            "modules.modinfo",
        ),
    ]


BUILDERS: list[Callable[[Path], list[Case]]] = [_bombs, _adb, _special, _many]


def write_cases(root: Path) -> list[Case]:
    """Write every hostile input under ``root``; the cases in a stable order."""
    return [case for build in BUILDERS for case in build(root)]


# --------------------------------------------------------------------------- running one case

MEMORY_LIMIT = 512 * MiB  # RLIMIT_AS of the verify process: the goal, enforced by the kernel
HANG_GUARD_SECONDS = 60.0  # only so a hang fails the test instead of blocking it forever

_CHILD = """
import sys
from kmodkit.cli import run
from kmodkit.cli.verify import verify
paths, index = sys.argv[1].split("\\0"), [i for i in sys.argv[2].split("\\0") if i]
run(verify, paths=paths, index=index, kernel_dir=None, sdk=None, release=None, target=None,
    keys=None, json_out=None, junit_out=None, strict=False, rebuild=False)
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: killed by the hang guard
    output: str  # stdout + stderr
    seconds: float
    max_rss: int  # bytes


def run_case(case: Case, *, memory_limit: int = MEMORY_LIMIT) -> Outcome:
    """Run ``invoke verify``'s CLI function on the case in a child under RLIMIT_AS."""
    import resource
    import subprocess
    import sys
    import tempfile
    import time

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    argv = [sys.executable, "-c", _CHILD, "\0".join(case.paths), "\0".join(case.index)]
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit)
        status: int | None = None
        rss = 0
        while True:
            pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rss = os.waitstatus_to_exitcode(raw), usage.ru_maxrss * 1024
                proc.returncode = status
                break
            if time.monotonic() - start > HANG_GUARD_SECONDS:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        seconds = time.monotonic() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return Outcome(status, text, seconds, rss)
