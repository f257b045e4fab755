"""Only regular files are read, never blocking and never past their limit."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kmodkit.safeio import read_regular_file


def test_reads_a_regular_file_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.ipk").write_bytes(b"data")
    os.symlink("real.ipk", tmp_path / "link.ipk")
    assert read_regular_file(tmp_path / "link.ipk", 4, "LIMIT") == b"data"


def test_refuses_dev_zero_without_reading_it(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero.ipk")
    with pytest.raises(OSError, match=r"not a regular file \(a character device\)"):
        read_regular_file(tmp_path / "zero.ipk", 1 << 20, "LIMIT")


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.ipk"
    os.mkfifo(fifo)
    done: list[BaseException] = []

    def read() -> None:
        try:
            read_regular_file(fifo, 1 << 20, "LIMIT")
        except OSError as exc:
            done.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(30)  # a hang guard only: it returns at once
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert "not a regular file (a FIFO)" in str(done[0])


def test_size_limit_is_named(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(bytes(11))
    with pytest.raises(OSError, match=r"file of 11 bytes exceeds the MAX_X limit \(10 bytes\)"):
        read_regular_file(tmp_path / "big", 10, "MAX_X")
    assert read_regular_file(tmp_path / "big", 11, "MAX_X") == bytes(11)
