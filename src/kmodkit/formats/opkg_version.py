"""opkg's version ordering (dpkg's ``verrevcmp`` over ``epoch:upstream-revision``).

Written from the algorithm's description: non-digit runs compare character by character with
``~`` lowest, then letters, then other symbols; digit runs compare numerically. OpenWrt's
``6.6.93~<hash>-r1`` kernel versions depend on ``~`` sorting before everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmodkit.errors import FormatError

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class OpkgVersion:
    epoch: int
    upstream: str
    revision: str


def parse_version(text: str) -> OpkgVersion:
    """Split like opkg: epoch before the first ``:``, revision after the last ``-``."""
    epoch = 0
    rest = text.strip()
    if ":" in rest:
        head, rest = rest.split(":", 1)
        if not head.isascii() or not head.isdigit():
            raise FormatError(f"epoch of version {text!r} is not a number")
        epoch = int(head)
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        upstream, revision = rest, ""
    return OpkgVersion(epoch, upstream, revision)


def _order(char: str) -> int:
    if char in _DIGITS:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def verrevcmp(a: str, b: str) -> int:
    """dpkg's comparison of one version part; the sign is what matters."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_diff = 0
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to or after ``b`` in opkg's order."""
    va, vb = parse_version(a), parse_version(b)
    result = (va.epoch > vb.epoch) - (va.epoch < vb.epoch)
    if not result:
        result = verrevcmp(va.upstream, vb.upstream)
    if not result:
        result = verrevcmp(va.revision, vb.revision)
    return (result > 0) - (result < 0)


def satisfies(version: str, op: str, ref: str) -> bool:
    """Whether ``version op ref`` holds; opkg reads the legacy ``<``/``>`` as ``<=``/``>=``."""
    cmp = compare_versions(version, ref)
    if op == "<<":
        return cmp < 0
    if op in ("<=", "<"):
        return cmp <= 0
    if op == "=":
        return cmp == 0
    if op in (">=", ">"):
        return cmp >= 0
    if op == ">>":
        return cmp > 0
    raise FormatError(f"unknown version operator {op!r}")
