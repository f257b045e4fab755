"""Named limits: one unpack budget per input, shared by every layer, and errors that name it."""

from __future__ import annotations

import pytest

from kmodkit import limits
from kmodkit.formats import adb
from kmodkit.formats.gzipio import gzip_compress, gzip_decompress
from kmodkit.limits import LimitExceeded, unpack_budget


def test_layers_share_one_budget_and_the_error_names_it() -> None:
    """Each layer fits MAX_UNPACKED_BYTES on its own; together they do not."""
    layer = gzip_compress(bytes(600))
    with unpack_budget(1000) as budget:
        gzip_decompress(layer, "outer", max_size=800)
        assert budget.left == 400
        with pytest.raises(LimitExceeded, match=r"inner: .*MAX_UNPACKED_BYTES limit \(1000 bytes"):
            gzip_decompress(layer, "inner", max_size=800)
    # outside a budget each stream only has its own cap
    assert len(gzip_decompress(layer, "alone", max_size=800)[0]) == 600


def test_adb_streams_draw_from_the_same_budget() -> None:
    stream = adb.build_stream(adb.SCHEMA_PACKAGE, [(adb.BLOCK_ADB, bytes(8) + bytes(600))])
    packed = adb.compress(stream, "zstd")
    with unpack_budget(1000):
        adb.decompress(packed, "a.apk")
        with pytest.raises(LimitExceeded, match=r"a\.apk: .*MAX_UNPACKED_BYTES"):
            adb.decompress(packed, "a.apk")


def test_packages_stanza_count_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_INDEX_ENTRIES", 3)
    raw = b"".join(b"Package: p%d\nVersion: 1\n\n" % i for i in range(4))
    limits.packages_stanzas_within_limit(raw[: raw.index(b"Package: p3")], "Packages")
    with pytest.raises(LimitExceeded, match=r"Packages: 4 packages exceed the MAX_INDEX_ENTRIES"):
        limits.packages_stanzas_within_limit(raw, "Packages")


def test_size_text() -> None:
    assert limits.size_text(128 << 20) == "128 MiB"
    assert limits.size_text(16384) == "16384 bytes"


def test_every_limit_is_listed_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### Resource limits") :]
    section = section[: section.index("\n## ")]
    names = [n for n, v in vars(limits).items() if n.isupper() and isinstance(v, (int, float))]
    assert "MAX_UNPACKED_BYTES" in names and len(names) > 10
    assert [n for n in names if n != "MiB" and f"`{n}`" not in section] == []
