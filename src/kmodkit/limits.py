"""Every resource limit kmodkit applies to untrusted input, in one place (the README lists them).

verify reads packages, indexes and keys written by anyone, and ``--index`` downloads them: each
limit keeps one hostile input under 10 MB from taking more than a bounded amount of memory or
time. A limit that trips raises an error (or a finding) that names the limit and the file.

Decompression nests (gzip inside tar inside gzip in an ipk; DATA blocks inside zstd in an apk),
so a per-stream cap alone would still multiply. ``unpack_budget`` gives all the decompression of
one input a single budget: every stream takes what it inflates from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from kmodkit.errors import FormatError

MiB = 1 << 20

# --- files read whole into memory
MAX_PACKAGE_FILE_BYTES = 128 * MiB  # one .ipk/.apk file
MAX_INDEX_FILE_BYTES = 64 * MiB  # Packages (also inflated from .gz), packages.adb, downloads
MAX_INDEX_ENTRIES = 100_000  # stanzas of one Packages index (OpenWrt's biggest: ~10,000)
MAX_KEY_FILE_BYTES = 16 * 1024  # a public key (usign or PEM) is well under 1 KiB
MAX_AUTOLOAD_FILE_BYTES = 64 * 1024  # an /etc/modules.d list, kept after its package is read

# --- decompression
MAX_UNPACKED_BYTES = 128 * MiB  # everything decompressed from one input, all layers together
ZSTD_MAX_WINDOW_BYTES = 32 * MiB  # refuse zstd frames asking for a bigger window (its memory)

# --- reports
MAX_MESSAGES_PER_RESULT = 100  # problems listed in one (artifact, check) result; then "N more"

# --- apk ADB decoding (values may be shared, so a small block can describe a huge tree)
MAX_ADB_VALUES = 2_000_000  # values decoded from one ADB block (a 5,000-package index: 215,000)
MAX_ADB_DECODED_BYTES = 64 * MiB  # blob bytes materialised while decoding one ADB block

# --- HTTP (--index URL)
HTTP_CONNECT_SECONDS = 10.0  # to establish the connection
HTTP_STALL_SECONDS = 30.0  # longest wait for the next bytes of a response
HTTP_DEADLINE_SECONDS = 120.0  # for a whole --index base, every candidate URL included
HTTP_MAX_BYTES = MAX_INDEX_FILE_BYTES  # one response body


class LimitExceeded(FormatError):
    """An input needs more than one of these limits allows (the message names the limit)."""


def seconds_text(seconds: float) -> str:
    return f"{seconds:g} s"


def size_text(size: int) -> str:
    """``128 MiB`` / ``16384 bytes``: how limits are shown in messages."""
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    return f"{size} bytes"


def exceeded(name: str, value: int, what: str) -> str:
    """The message of a tripped limit, naming it: '<what> exceeds the NAME limit (128 MiB)'."""
    return f"{what} exceeds the {name} limit ({size_text(value)})"


def packages_stanzas_within_limit(raw: bytes, where: str) -> None:
    """Refuse a Packages index of more than MAX_INDEX_ENTRIES stanzas before parsing it."""
    count = raw.count(b"\nPackage:") + raw.startswith(b"Package:")
    if count > MAX_INDEX_ENTRIES:
        raise LimitExceeded(
            f"{count} packages exceed the MAX_INDEX_ENTRIES limit ({MAX_INDEX_ENTRIES})",
            where=where,
        )


@dataclass
class UnpackBudget:
    """Bytes still allowed to be decompressed from the input being read."""

    name: str
    limit: int
    left: int

    def take(self, size: int, where: str) -> None:
        self.left -= size
        if self.left < 0:
            message = exceeded(self.name, self.limit, "data unpacked from it")
            raise LimitExceeded(message, where=where)


_BUDGET: ContextVar[UnpackBudget | None] = ContextVar("kmodkit_unpack_budget", default=None)


@contextlib.contextmanager
def unpack_budget(limit: int = MAX_UNPACKED_BYTES) -> Iterator[UnpackBudget]:
    """All decompression inside the block shares ``limit`` bytes (MAX_UNPACKED_BYTES)."""
    budget = UnpackBudget("MAX_UNPACKED_BYTES", limit, limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


@dataclass(frozen=True)
class Cap:
    """The output cap of one decompression and the limit it comes from (for the message)."""

    size: int
    name: str
    limit: int

    def error(self, what: str, where: str) -> LimitExceeded:
        return LimitExceeded(exceeded(self.name, self.limit, what), where=where)


def unpack_cap(max_size: int, name: str = "MAX_UNPACKED_BYTES") -> Cap:
    """The cap of one stream: its own ``max_size`` (limit ``name``), or less when the input's
    budget has less left."""
    budget = _BUDGET.get()
    if budget is not None and budget.left < max_size:
        return Cap(max(budget.left, 0), budget.name, budget.limit)
    return Cap(max_size, name, max_size)


def charge_unpacked(size: int, where: str) -> None:
    """Take ``size`` decompressed bytes from the current budget (no-op outside one)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.take(size, where)
