"""Read an untrusted file whole, without hanging on it or exhausting memory.

A path that verify is given (or finds in a tree) may be a FIFO that blocks ``open`` forever, a
symlink to ``/dev/zero`` that never ends, or a file far bigger than its kind can be. Only
regular files are read, the type is checked again on the opened descriptor (the path may be
swapped in between), the open never blocks, and at most ``max_bytes`` are read.

Failures are ``OSError`` (with a message naming the limit), so every caller that already turns
an unreadable file into a one-line finding handles these too.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from kmodkit.limits import exceeded

_READ_STEP = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: Path, mode: int) -> OSError:
    return OSError(errno.EINVAL, f"not a regular file ({file_kind(mode)}), skipped", str(path))


def read_regular_file(path: Path, max_bytes: int, limit_name: str) -> bytes:
    """The bytes of the regular file ``path``: OSError for anything else or over ``max_bytes``."""
    before = os.stat(path)  # no open() at all for devices and FIFOs (open may block or act)
    if not stat.S_ISREG(before.st_mode):
        raise not_regular(path, before.st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped after the stat above
            raise not_regular(path, st.st_mode)
        if st.st_size > max_bytes:
            raise _too_big(path, max_bytes, limit_name, st.st_size)
        chunks = []
        total = 0
        while True:  # the file may grow while it is read: never past max_bytes + 1
            # the stated size plus one byte (so EOF shows at once), then steps if it grew
            want = st.st_size + 1 - total if total <= st.st_size else _READ_STEP
            chunk = os.read(fd, min(want, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise _too_big(path, max_bytes, limit_name, None)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_big(path: Path, max_bytes: int, limit_name: str, size: int | None) -> OSError:
    what = "file" if size is None else f"file of {size} bytes"
    return OSError(errno.EFBIG, exceeded(limit_name, max_bytes, what), str(path))
