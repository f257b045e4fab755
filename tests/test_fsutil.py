"""Output is written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.fsutil import atomic_directory, atomic_write_bytes


def test_atomic_directory_replaces_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "dist" / "x86" / "64"
    with atomic_directory(dest) as work:
        (work / "a").write_text("one")
    assert (dest / "a").read_text() == "one"
    with pytest.raises(RuntimeError), atomic_directory(dest) as work:
        (work / "a").write_text("two")
        raise RuntimeError("verification failed")
    assert (dest / "a").read_text() == "one"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["64"]


def test_failed_atomic_directory_removes_the_parents_it_made(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "dist/23.05/x86/64") as work:
        (work / "partial.ipk").write_bytes(b"half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "dist").rglob("*")) == ["keep.txt"]


def test_atomic_write_leaves_no_temp_file_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing rename (full disk, EXDEV...) keeps the old file and removes the temp file."""
    target = tmp_path / "Packages"
    atomic_write_bytes(target, b"old")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("kmodkit.fsutil.os.replace", fail)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["Packages"]
