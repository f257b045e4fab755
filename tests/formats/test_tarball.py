"""GNU tar / gzip / ar layers: byte equality with the real tools, strict and bounded reading."""

from __future__ import annotations

import gzip
import io
import random
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import gzipio
from kmodkit.formats.gzipio import CHUNK, PARALLEL_MIN, gzip_compress, gzip_decompress
from kmodkit.formats.tarball import (
    TarMember,
    _byte_sum,
    read_ar,
    read_tar,
    write_gnu_tar,
)

MTIME = 1735689600
LONG = "x" * 120


def _gnu_tar() -> str:
    tar = shutil.which("tar")
    if (
        tar is None
        or b"GNU tar" not in subprocess.run([tar, "--version"], capture_output=True).stdout
    ):
        pytest.fail("GNU tar is needed to compare the writer with the real tool")
    return tar


def _members() -> list[TarMember]:
    return [
        TarMember("./", "dir", 0o755, mtime=MTIME),
        TarMember("./d/", "dir", 0o755, mtime=MTIME),
        TarMember("./d/lnk", "symlink", 0o777, linkname="y" * 130, mtime=MTIME),
        TarMember("./d/run.sh", "file", 0o755, b"#!/bin/sh\n", mtime=MTIME),
        TarMember(f"./d/{LONG}", "file", 0o644, b"z" * 700, mtime=MTIME),
    ]


def test_writer_matches_gnu_tar_byte_for_byte(tmp_path: Path) -> None:
    tar = _gnu_tar()
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (root / "d" / "run.sh").chmod(0o755)
    (root / "d" / LONG).write_bytes(b"z" * 700)
    (root / "d" / LONG).chmod(0o644)
    (root / "d" / "lnk").symlink_to("y" * 130)
    root.chmod(0o755)
    (root / "d").chmod(0o755)
    reference = subprocess.run(
        [
            tar,
            "--format=gnu",
            "--numeric-owner",
            "--owner=0",
            "--group=0",
            "--sort=name",
            "-C",
            str(root),
            "-cf",
            "-",
            f"--mtime=@{MTIME}",
            ".",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert write_gnu_tar(_members()) == reference


def test_read_back_keeps_names_owners_and_links() -> None:
    layer = read_tar(write_gnu_tar(_members()), "t.tar")
    assert layer.format == "gnu"
    assert [m.name for m in layer.members] == [m.name for m in _members()]
    by_name = {m.name: m for m in layer.members}
    assert by_name["./d/lnk"].linkname == "y" * 130
    assert by_name[f"./d/{LONG}"].data == b"z" * 700
    assert by_name["./d/lnk"].offset > 0
    assert all(
        (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", MTIME) for m in layer.members
    )


@pytest.mark.parametrize(("level", "flag"), [(6, "-n"), (9, "-9n")])
def test_gzip_matches_gnu_gzip(level: int, flag: str) -> None:
    gzip = shutil.which("gzip")
    assert gzip, "gzip is needed to compare with the real tool"
    # Text such as a Packages index: zlib then emits gzip's very deflate stream.
    data = b"".join(b"Package: kmod-%d\nVersion: 6.6.93-r1\n\n" % i for i in range(2000))
    reference = subprocess.run([gzip, flag], input=data, capture_output=True, check=True).stdout
    assert gzip_compress(data, level) == reference
    out, header = gzip_decompress(reference, "ref.gz")
    assert out == data
    assert (header.mtime, header.os, header.has_filename) == (0, 3, False)


def test_gzip_header_fields_are_reported() -> None:
    named = bytes.fromhex("1f8b0808") + (1234).to_bytes(4, "little") + b"\x00\x03name.tar\x00"
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = body.compress(b"abc") + body.flush()
    blob = named + payload + zlib.crc32(b"abc").to_bytes(4, "little") + (3).to_bytes(4, "little")
    out, header = gzip_decompress(blob, "n.gz")
    assert out == b"abc"
    assert header.filename == b"name.tar" and header.mtime == 1234 and header.has_filename


def test_gzip_header_crc_is_checked() -> None:
    head = bytes.fromhex("1f8b0802") + bytes(4) + b"\x00\x03"
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = body.compress(b"abc") + body.flush()
    tail += zlib.crc32(b"abc").to_bytes(4, "little") + (3).to_bytes(4, "little")
    crc16 = (zlib.crc32(head) & 0xFFFF).to_bytes(2, "little")
    assert gzip_decompress(head + crc16 + tail, "h.gz")[0] == b"abc"
    with pytest.raises(FormatError, match="header CRC mismatch at offset 10"):
        gzip_decompress(head + bytes(2) + tail, "h.gz")


def test_gzip_limits_and_corruption() -> None:
    blob = gzip_compress(b"\x00" * 100_000)
    with pytest.raises(FormatError, match="limit"):
        gzip_decompress(blob, "bomb.gz", max_size=1000)
    with pytest.raises(FormatError, match="magic"):
        gzip_decompress(b"PK" + blob[2:], "x.gz")
    with pytest.raises(FormatError, match="truncated"):
        gzip_decompress(blob[: len(blob) // 2], "x.gz")
    bad_crc = blob[:-8] + bytes(4) + blob[-4:]
    with pytest.raises(FormatError, match="CRC"):
        gzip_decompress(bad_crc, "x.gz")


def test_tar_errors_name_offsets() -> None:
    good = write_gnu_tar(_members())
    flipped = bytearray(good)
    flipped[512 + 10] ^= 0xFF  # name byte of the second header
    with pytest.raises(FormatError, match="checksum at offset 512"):
        read_tar(bytes(flipped), "t.tar")
    with pytest.raises(FormatError, match="truncated at offset"):
        read_tar(good[:700], "t.tar")
    huge = bytearray(good[:512])
    huge[124:136] = b"77777777777\x00"
    huge[148:156] = b" " * 8
    huge[148:156] = b"%06o\x00 " % sum(huge)
    with pytest.raises(FormatError, match="past the end"):
        read_tar(bytes(huge) + bytes(1024), "t.tar")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=512, max_size=512))
def test_header_byte_sum_is_exact(block: bytes) -> None:
    """The adler32 shortcut for the checksum sum equals ``sum`` for every possible header."""
    assert _byte_sum(block) == sum(block)


def test_all_ff_header_sum_is_exact() -> None:
    assert _byte_sum(b"\xff" * 512) == 512 * 255


def _tarfile_archive(fmt: int, uname: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        entries = [
            ("./", tarfile.DIRTYPE, b"", 0o755),
            ("./lib/modules/6.6.93/" + "x" * 90 + "/nf_flow_table.ko", tarfile.REGTYPE, b"k", 0),
            ("./etc/modules.d/30-nf-flow", tarfile.REGTYPE, b"nf_flow_table\n", 0o644),
            ("./etc/modules-boot.d/30-nf-flow", tarfile.SYMTYPE, b"", 0o777),
            ("./etc/hard", tarfile.LNKTYPE, b"", 0o644),
        ]
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode = kind, len(data), mode or 0o644
            info.mtime, info.uid, info.gid, info.uname = MTIME, 0, 0, uname
            if kind == tarfile.SYMTYPE:
                info.linkname = "../modules.d/30-nf-flow"
            if kind == tarfile.LNKTYPE:
                info.linkname = "./etc/modules.d/30-nf-flow"
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [(tarfile.GNU_FORMAT, "gnu"), (tarfile.USTAR_FORMAT, "ustar"), (tarfile.PAX_FORMAT, "pax")],
)
def test_read_tar_agrees_with_tarfile(fmt: int, expected: str) -> None:
    archive = _tarfile_archive(fmt)
    ours = read_tar(archive, "t.tar")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        theirs = tar.getmembers()
        files = [tar.extractfile(m) if m.isfile() else None for m in theirs]
        payloads = [f.read() if f else b"" for f in files]
    members = ours.members
    assert [m.name.rstrip("/") for m in members] == [t.name for t in theirs]  # tarfile strips "/"
    assert [(len(m.data), m.mode, m.mtime, m.linkname) for m in members] == [
        (t.size, t.mode, t.mtime, t.linkname) for t in theirs
    ]
    assert [m.kind for m in members] == ["dir", "file", "file", "symlink", "hardlink"]
    assert [m.data for m in members] == payloads
    assert ours.format == expected and ours.terminated
    # the 90-character directory needs a long name: GNU 'L' record, ustar prefix or PAX path
    assert ours.header_formats == {"gnu" if fmt == tarfile.GNU_FORMAT else "ustar"}
    assert ours.pax_headers == (1 if fmt == tarfile.PAX_FORMAT else 0)


def test_pax_records_override_header_names() -> None:
    layer = read_tar(_tarfile_archive(tarfile.PAX_FORMAT, uname="b\u00e9 builder"), "p.tar")
    assert layer.format == "pax" and layer.pax_headers == len(layer.members)
    assert {m.uname for m in layer.members} == {"b\u00e9 builder"}  # non-ASCII: only in PAX


def test_every_corrupted_header_byte_is_caught() -> None:
    archive = _tarfile_archive(tarfile.GNU_FORMAT)
    for at in range(0, 512, 7):
        broken = bytearray(archive)
        broken[at] ^= 0x01
        with pytest.raises(
            FormatError, match=r"^t\.tar: (bad tar header checksum at offset 0|bad octal number)"
        ):
            read_tar(bytes(broken), "t.tar")


def _reseal(header: bytearray, *, signed: bool = False) -> bytes:
    """Store a fresh checksum, as unsigned (POSIX) or signed chars (some old tars)."""
    header[148:156] = b" " * 8
    total = sum(header) - (256 * sum(1 for b in header if b > 127) if signed else 0)
    header[148:156] = b"%06o\x00 " % total
    return bytes(header)


def test_signed_checksum_base256_numbers_and_strict_octal() -> None:
    archive = bytearray(write_gnu_tar([TarMember("./a", "file", 0o644, b"abc", mtime=MTIME)]))
    head = bytearray(archive[:512])
    head[265:269] = "r\u00f6t".encode()  # uname with bytes > 127, so both sums differ
    head[108:116] = b"\x80" + (70_000_000).to_bytes(7, "big")  # GNU base-256 uid
    member = read_tar(_reseal(head, signed=True) + archive[512:], "s.tar").members[0]
    assert (member.uname, member.uid, member.data) == ("r\u00f6t", 70_000_000, b"abc")
    for field, value, message in (
        (slice(108, 116), b"\xc0" + bytes(7), "negative number"),
        (slice(100, 108), b"-000001\x00", "bad octal number"),
        (slice(100, 108), b"0000_01\x00", "bad octal number"),
        (slice(0, 4), b"./\xff\x00", "not UTF-8"),
    ):
        bad = bytearray(archive[:512])
        bad[field] = value
        with pytest.raises(FormatError, match=message):
            read_tar(_reseal(bad) + archive[512:], "s.tar")


def test_missing_end_blocks_are_reported_not_fatal() -> None:
    archive = write_gnu_tar([TarMember("./a", "file", 0o644, b"abc", mtime=MTIME)])
    assert read_tar(archive, "e.tar").terminated
    cut = read_tar(archive[:1024], "e.tar")  # header and data block, no zero blocks
    assert not cut.terminated and [m.data for m in cut.members] == [b"abc"]
    with pytest.raises(FormatError, match="truncated at offset 1024"):
        read_tar(archive[:1100], "e.tar")


def test_devices_and_fifos_are_read_as_stored_other_types_rejected() -> None:
    """verify must see a FIFO or device node to fail it; the writer never makes one."""
    head = bytearray(write_gnu_tar([TarMember("./node", "file", mtime=MTIME)])[:512])
    for flag, kind in ((b"3", "chardev"), (b"4", "blockdev"), (b"6", "fifo")):
        head[156:157] = flag
        layer = read_tar(_reseal(head) + bytes(1024), "f.tar")
        assert [(m.name, m.kind) for m in layer.members] == [("./node", kind)]
        with pytest.raises(FormatError, match=r"refusing to write.*special-file"):
            write_gnu_tar(layer.members)
    head[156:157] = b"8"
    with pytest.raises(FormatError, match="unsupported tar entry type b'8' at offset 0"):
        read_tar(_reseal(head) + bytes(1024), "f.tar")


def test_ar_reader() -> None:
    def member(name: bytes, data: bytes) -> bytes:
        head = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2 + b"100644".ljust(8)
        return head + str(len(data)).encode().ljust(10) + b"`\n" + data + b"\n" * (len(data) & 1)

    blob = b"!<arch>\n" + member(b"debian-binary/", b"2.0\n") + member(b"odd", b"abc")
    members = read_ar(blob, "a.ar")
    assert [(m.name, m.data) for m in members] == [("debian-binary", b"2.0\n"), ("odd", b"abc")]
    with pytest.raises(FormatError, match="past the end"):
        read_ar(blob[:-2], "a.ar")
    with pytest.raises(FormatError, match="magic"):
        read_ar(b"!<arch>" + blob[8:], "a.ar")


_SAMPLE = write_gnu_tar(_members())
_SAMPLE_GZ = gzip_compress(_SAMPLE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_readers_only_raise_format_error(data: st.DataObject) -> None:
    for blob, reader in ((_SAMPLE, "tar"), (_SAMPLE_GZ, "gz")):
        mutated = bytearray(blob)
        for _ in range(data.draw(st.integers(1, 4))):
            index = data.draw(st.integers(0, len(mutated) - 1))
            mutated[index] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(mutated)))
        for candidate in (bytes(mutated), bytes(mutated[:cut])):
            try:
                if reader == "tar":
                    read_tar(candidate, "f.tar")
                else:
                    gzip_decompress(candidate, "f.gz", max_size=1 << 20)
            except FormatError:
                pass


_PAX_SAMPLE = _tarfile_archive(tarfile.PAX_FORMAT, uname="b\u00e9")


@settings(max_examples=150, deadline=None)
@given(
    sample=st.sampled_from([_SAMPLE, _PAX_SAMPLE]),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_fuzz_resealed_headers_only_raise_format_error(
    sample: bytes, flips: list[tuple[int, int]]
) -> None:
    """Mutations behind a valid checksum reach the field, long-name and PAX parsers."""
    mutated = bytearray(sample)
    for index, value in flips:
        mutated[index % len(mutated)] = value
    for at in range(0, len(mutated), 512):
        head = mutated[at : at + 512]
        if len(head) == 512 and any(head):  # data blocks too: they only change content
            mutated[at : at + 512] = _reseal(head)
    try:
        layer = read_tar(bytes(mutated), "r.tar")
    except FormatError:
        return
    assert all(isinstance(m.name, str) and m.mode >= 0 for m in layer.members)


def mixed_bytes(size: int, seed: int) -> bytes:
    """Binary that deflates part way, like kernel modules: repeated words between noise."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 9)) for _ in range(500)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) if rng.random() < 0.85 else rng.randbytes(16)
    return bytes(out[:size])


_BIG = mixed_bytes(PARALLEL_MIN + 3 * CHUNK + 12345, 3)  # parallel path, ends mid-chunk


def _gnu_gunzip(blob: bytes) -> bytes:
    tool = shutil.which("gzip")
    assert tool, "gzip is needed to check the parallel stream with the real tool"
    assert subprocess.run([tool, "-t"], input=blob, capture_output=True).returncode == 0
    return subprocess.run([tool, "-dc"], input=blob, capture_output=True, check=True).stdout


@pytest.mark.parametrize("level", [1, 6, 9])
def test_parallel_gzip_is_one_valid_member(level: int) -> None:
    blob = gzip_compress(_BIG, level, max_workers=4)
    assert gzip.decompress(blob) == _BIG
    assert _gnu_gunzip(blob) == _BIG
    out, header = gzip_decompress(blob, "big.gz")  # rejects a second member or trailing data
    assert out == _BIG
    assert (header.flags, header.mtime, header.os) == (0, 0, 3)
    assert header.xfl == {1: 4, 6: 0, 9: 2}[level]
    assert len(blob) < len(_BIG) * 0.8  # chunks still deflate, primed across their edges


def test_parallel_gzip_bytes_do_not_depend_on_workers_or_runs() -> None:
    serial = gzip_compress(_BIG, max_workers=1)
    assert gzip_compress(_BIG, max_workers=4) == serial
    assert gzip_compress(_BIG, max_workers=4) == serial
    assert gzip_compress(_BIG) == serial  # default: every CPU of this machine
    assert gzip_compress(bytearray(_BIG), max_workers=2) == serial


def test_small_inputs_keep_the_single_stream() -> None:
    small = _BIG[: PARALLEL_MIN - 1]
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, 9)
    body = compressor.compress(small) + compressor.flush()
    assert gzip_compress(small, max_workers=4)[10:-8] == body


def test_precompressed_range_is_stored_not_deflated() -> None:
    zeros = bytes(2 * PARALLEL_MIN)
    deflated = gzip_compress(zeros, max_workers=2)
    stored = gzip_compress(zeros, max_workers=2, precompressed=(0, len(zeros)))
    part = gzip_compress(zeros, max_workers=2, precompressed=(CHUNK, 5 * CHUNK + 1))
    assert len(deflated) < len(part) < len(stored)
    assert len(stored) > len(zeros) and len(part) > 4 * CHUNK  # stored blocks hold the bytes
    for blob in (stored, part):
        assert gzip.decompress(blob) == zeros
        assert _gnu_gunzip(blob) == zeros
    assert gzip_compress(zeros, max_workers=1, precompressed=(CHUNK, 5 * CHUNK + 1)) == part


@settings(max_examples=120, deadline=None)
@given(
    data=st.binary(max_size=6000) | st.integers(0, 9000).map(lambda n: mixed_bytes(n, n)),
    chunk=st.integers(64, 3000),
    low=st.integers(0, 9000),
    span=st.integers(0, 9000),
    level=st.sampled_from([0, 1, 6, 9]),
)
def test_chunked_stream_property(data: bytes, chunk: int, low: int, span: int, level: int) -> None:
    """Any chunk size, length and stored range: one member that inflates to the input."""
    with mock.patch.object(gzipio, "PARALLEL_MIN", 0), mock.patch.object(gzipio, "CHUNK", chunk):
        blob = gzip_compress(data, level, max_workers=3, precompressed=(low, low + span))
        again = gzip_compress(data, level, max_workers=1, precompressed=(low, low + span))
    assert blob == again
    assert gzip.decompress(blob) == data
    assert gzip_decompress(blob, "p.gz")[0] == data
