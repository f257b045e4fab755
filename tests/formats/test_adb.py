"""ADB value encoding, de-duplication, block framing and compression detection."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import adb
from kmodkit.formats.adb import AdbReader, AdbWriter


@pytest.mark.parametrize(
    ("size", "vtype"),
    [(1, adb.T_BLOB8), (255, adb.T_BLOB8), (256, adb.T_BLOB16), (70000, adb.T_BLOB32)],
)
def test_blob_width_follows_length(size: int, vtype: int) -> None:
    w = AdbWriter()
    val = w.blob(b"x" * size)
    assert adb.val_type(val) == vtype
    assert AdbReader(w.payload()).blob(val) == b"x" * size


@pytest.mark.parametrize(
    ("value", "vtype"),
    [(0, adb.T_INT), ((1 << 28) - 1, adb.T_INT), (1 << 28, adb.T_INT32), (1 << 40, adb.T_INT64)],
)
def test_int_width(value: int, vtype: int) -> None:
    w = AdbWriter()
    val = w.integer(value)
    assert adb.val_type(val) == vtype
    assert AdbReader(w.payload()).integer(val) == value


def test_dedup_reuses_identical_values_but_not_raw_blobs() -> None:
    w = AdbWriter()
    a, b = w.blob(b"root"), w.blob(b"root")
    assert a == b
    assert w.blob(b"root", dedup=False) != a
    o1, o2 = w.obj([a, b]), w.obj([a, b])
    assert o1 == o2 and adb.val_value(o1) % 4 == 0


def test_object_trims_trailing_nulls_and_empty_is_null() -> None:
    w = AdbWriter()
    assert w.obj([adb.NULL, adb.NULL]) == adb.NULL
    val = w.obj([w.integer(5), adb.NULL, adb.NULL])
    assert AdbReader(w.payload()).slots(val) == [adb.make_val(adb.T_INT, 5)]


def test_copy_preserves_structure() -> None:
    src = AdbWriter()
    inner = src.obj([src.blob(b"a"), src.integer(1 << 30)])
    root = src.obj([inner, src.blob(b"z" * 300)], adb.T_ARRAY)
    src.set_root(root)
    reader = AdbReader(src.payload())
    dst = AdbWriter()
    dst.blob(b"padding")
    copied = dst.copy(reader, root)
    out = AdbReader(dst.payload())
    first, second = out.slots(copied)
    assert adb.val_type(copied) == adb.T_ARRAY
    assert out.blob(second) == b"z" * 300
    assert out.blob(out.slots(first)[0]) == b"a" and out.integer(out.slots(first)[1]) == 1 << 30


def test_block_framing_and_order_rules() -> None:
    stream = adb.build_stream(
        adb.SCHEMA_INDEX, [(adb.BLOCK_ADB, bytes(8)), (adb.BLOCK_SIG, b"s" * 20)]
    )
    assert len(stream) % 8 == 0
    c = adb.parse_container(stream, "t", expected_schema=adb.SCHEMA_INDEX)
    assert [b.type for b in c.blocks] == [adb.BLOCK_ADB, adb.BLOCK_SIG]
    assert c.blocks[1].payload == b"s" * 20
    bad = adb.build_stream(
        adb.SCHEMA_INDEX, [(adb.BLOCK_ADB, bytes(8)), (adb.BLOCK_DATA, b"d"), (adb.BLOCK_SIG, b"s")]
    )
    with pytest.raises(FormatError, match="unexpected SIG block at byte"):
        adb.parse_container(bad, "t")
    with pytest.raises(FormatError, match="unexpected DATA"):
        adb.parse_container(adb.build_stream(1, [(adb.BLOCK_DATA, b"d")]), "t")


@pytest.mark.parametrize("kind", ["none", "deflate", "zstd"])
def test_compression_roundtrip(kind: adb.Compression) -> None:
    stream = adb.build_stream(adb.SCHEMA_PACKAGE, [(adb.BLOCK_ADB, bytes(64))])
    plain, detected = adb.decompress(adb.compress(stream, kind), "t")
    assert plain == stream and detected == kind


def test_truncated_deflate_is_a_format_error() -> None:
    data = adb.compress(
        adb.build_stream(adb.SCHEMA_PACKAGE, [(0, bytes(range(256)) * 8)]), "deflate"
    )
    with pytest.raises(FormatError, match=r"truncated|corrupt"):
        adb.decompress(data[:-10], "t")


def test_reader_rejects_out_of_range_and_wrong_types() -> None:
    w = AdbWriter()
    blob = w.blob(b"abc")
    reader = AdbReader(w.payload(), "t")
    with pytest.raises(FormatError, match="expected an integer"):
        reader.integer(blob)
    with pytest.raises(FormatError, match="ADB offset 4096"):
        reader.blob(adb.make_val(adb.T_BLOB8, 4096))
    with pytest.raises(FormatError, match="runs past"):
        reader.slots(adb.make_val(adb.T_OBJECT, 8))  # "\x03abc" read as a huge count


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_parse_container_only_format_errors(data: bytes) -> None:
    for prefix in (b"", b"ADB.pckg", b"ADBd", b"ADBc\x01\x09"):
        with contextlib.suppress(FormatError):
            adb.parse_container(prefix + data, "fuzz", max_size=1 << 16)


def _peak_bytes(fn: object) -> int:
    import tracemalloc

    assert callable(fn)
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_zstd_bomb_is_refused_before_it_unpacks() -> None:
    """131 KB of zstd standing for 4 GiB: the cap trips after ~cap bytes, not after 4 GiB."""
    from hostile_inputs import zstd_bomb
    from kmodkit.limits import LimitExceeded

    head = adb.MAGIC + adb.SCHEMA_PACKAGE.to_bytes(4, "little")
    bomb = b"ADBc\x02\x03" + zstd_bomb(head, 1 << 30)
    assert len(bomb) < 40_000

    def parse() -> None:
        with pytest.raises(LimitExceeded, match=r"bomb\.apk: .*MAX_UNPACKED_BYTES limit \(16 MiB"):
            adb.parse_container(bomb, "bomb.apk", max_size=16 << 20)

    assert _peak_bytes(parse) < 64 << 20


def test_zstd_truncated_or_with_a_huge_window_is_a_format_error() -> None:
    import zstandard

    stream = adb.build_stream(adb.SCHEMA_PACKAGE, [(adb.BLOCK_ADB, bytes(64 * 1024))])
    packed = adb.compress(stream, "zstd")
    with pytest.raises(FormatError, match="zstd stream truncated"):
        adb.decompress(packed[: len(packed) // 2], "cut.apk")
    # a frame asking for a 1 GiB window (window descriptor exponent 20), then one raw block
    huge = b"\x28\xb5\x2f\xfd\x00" + bytes([20 << 3])
    huge += ((len(stream) << 3) | 1).to_bytes(3, "little") + stream
    assert zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj().decompress(huge)
    with pytest.raises(FormatError, match="ZSTD_MAX_WINDOW_BYTES"):
        adb.decompress(b"ADBc\x02\x03" + huge, "window.apk")


def test_deflate_bomb_is_refused_within_its_cap() -> None:
    from hostile_inputs import deflate_bomb

    bomb = b"ADBd" + deflate_bomb(1 << 30)

    def parse() -> None:
        with pytest.raises(FormatError, match="MAX_UNPACKED_BYTES"):
            adb.parse_container(bomb, "bomb.apk", max_size=16 << 20)

    assert _peak_bytes(parse) < 64 << 20
