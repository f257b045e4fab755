"""The pack cache: reused only while each entry still has its recorded sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.formats.model import PackageInput, PackageMeta
from kmodkit.pipeline.packing import PackageFormat, pack
from kmodkit.pipeline.stage import StagedFile, kmod_package, stage_entries

EPOCH = 1_700_000_000


def _package() -> PackageInput:
    meta = PackageMeta(
        name="kmod-demo", version="6.6.93-r1", arch="x86_64", description="Demo module"
    )
    entries = stage_entries(
        {"demo.ko": b"\x7fELF demo module bytes"},
        "6.6.93",
        [StagedFile("/etc/modules.d/30-demo", b"demo\n")],
        [],
    )
    return kmod_package(meta, entries)


@pytest.mark.parametrize("fmt", ["ipk", "apk"])
def test_damaged_pack_cache_entries_are_repacked(tmp_path: Path, fmt: PackageFormat) -> None:
    pkg = _package()
    cache = tmp_path / "packs"
    first = pack(pkg, fmt, source_date_epoch=EPOCH, cache=cache)
    assert not first.reused
    (entry,) = [p for p in cache.rglob(f"*.{fmt}")]
    assert pack(pkg, fmt, source_date_epoch=EPOCH, cache=cache).reused

    damages = {
        "altered": lambda: entry.write_bytes(b"X" + entry.read_bytes()[1:]),
        "truncated": lambda: entry.write_bytes(entry.read_bytes()[:100]),
        "deleted": entry.unlink,
        "unrecorded": lambda: entry.with_name(entry.name + ".sha256").unlink(),
    }
    for what, damage in damages.items():
        damage()
        again = pack(pkg, fmt, source_date_epoch=EPOCH, cache=cache)
        assert not again.reused, what
        assert again.data == first.data, what
        assert entry.read_bytes() == first.data, what  # the entry itself is repaired
        assert pack(pkg, fmt, source_date_epoch=EPOCH, cache=cache).reused, what
