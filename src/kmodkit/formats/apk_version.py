"""apk v3 version grammar and ordering (mirrors apk-tools 3.x src/version.c).

``digits{.digits}{letter}{_suffix{digits}}{~hexhash}{-rN}``; suffixes ``_alpha _beta _pre _rc``
sort before a plain version, ``_cvs _svn _git _hg _p`` after it. Unlike opkg, ``1.0-1`` is
invalid: a revision must be written ``-r1``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Result bits (apk_version.h); dependency "match" values are combinations of these.
LESS = 2
EQUAL = 1
GREATER = 4
FUZZY = 8
CONFLICT = 16
ANY = LESS | EQUAL | GREATER
CHECKSUM = LESS | GREATER

# Token kinds, in the order they may appear.
INITIAL_DIGIT, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END, INVALID = range(9)

_SUFFIXES = {
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "rc": 4,
    "cvs": 6,
    "svn": 7,
    "git": 8,
    "hg": 9,
    "p": 10,
}
SUFFIX_NONE = 5
_HEX = frozenset("0123456789abcdef")


@dataclass
class _Token:
    kind: int = INITIAL_DIGIT
    value: str = ""
    number: int = 0
    suffix: int = 0


class _Scanner:
    """Walks one version string token by token (token_first/token_next)."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.t = _Token()
        self._digits()

    def _digits(self) -> None:
        start = self.i
        while self.i < len(self.s) and "0" <= self.s[self.i] <= "9":
            self.i += 1
        self.t.value = self.s[start : self.i]
        if not self.t.value:
            self.t.kind = INVALID
        else:
            self.t.number = int(self.t.value)

    def next(self) -> None:
        t, s = self.t, self.s
        if self.i >= len(s):
            t.kind = END
            return
        c = s[self.i]
        if "a" <= c <= "z":
            if t.kind > DIGIT:
                t.kind = INVALID
                return
            t.value, t.kind = c, LETTER
            self.i += 1
        elif c == "." or "0" <= c <= "9":
            if c == ".":
                if t.kind > DIGIT:
                    t.kind = INVALID
                    return
                self.i += 1
            if t.kind in (INITIAL_DIGIT, DIGIT):
                t.kind = DIGIT
            elif t.kind == SUFFIX:
                t.kind = SUFFIX_NO
            else:
                t.kind = INVALID
                return
            self._digits()
        elif c == "_":
            if t.kind > SUFFIX_NO:
                t.kind = INVALID
                return
            start = self.i = self.i + 1
            while self.i < len(s) and "a" <= s[self.i] <= "z":
                self.i += 1
            t.value = s[start : self.i]
            t.suffix = _SUFFIXES.get(t.value, 0)
            t.kind = SUFFIX if t.suffix else INVALID
        elif c == "~":
            if t.kind >= COMMIT_HASH:
                t.kind = INVALID
                return
            start = self.i = self.i + 1
            while self.i < len(s) and s[self.i] in _HEX:
                self.i += 1
            t.value = s[start : self.i]
            t.kind = COMMIT_HASH if t.value else INVALID
        elif c == "-":
            if t.kind >= REVISION_NO or not s.startswith("-r", self.i):
                t.kind = INVALID
                return
            self.i += 2
            t.kind = REVISION_NO
            self._digits()
        else:
            t.kind = INVALID


def _bytes_cmp(a: str, b: str) -> int:
    ab, bb = a.encode(), b.encode()
    return (ab > bb) - (ab < bb)


def _token_cmp(a: _Token, b: _Token) -> int:
    kind = a.kind
    if kind == DIGIT and (a.value[:1] == "0" or b.value[:1] == "0"):
        return _bytes_cmp(a.value, b.value)  # leading zero: string order, as Gentoo
    if kind in (INITIAL_DIGIT, DIGIT, SUFFIX_NO, REVISION_NO):
        x, y = a.number, b.number
    elif kind == LETTER:
        x, y = ord(a.value), ord(b.value)
    elif kind == SUFFIX:
        x, y = a.suffix, b.suffix
    else:
        return _bytes_cmp(a.value, b.value)
    return (x > y) - (x < y)


def is_valid(version: str) -> bool:
    scan = _Scanner(version)
    while scan.t.kind < END:
        scan.next()
    return scan.t.kind == END


def _compare(a: str, b: str, fuzzy: bool = False) -> int:
    sa, sb = _Scanner(a), _Scanner(b)
    while sa.t.kind == sb.t.kind and sa.t.kind < END:
        r = _token_cmp(sa.t, sb.t)
        if r:
            return r
        sa.next()
        sb.next()
    ta, tb = sa.t, sb.t
    if ta.kind == tb.kind or (tb.kind == END and fuzzy):
        return 0
    if ta.kind == SUFFIX and ta.suffix < SUFFIX_NONE:
        return -1
    if tb.kind == SUFFIX and tb.suffix < SUFFIX_NONE:
        return 1
    return -1 if ta.kind > tb.kind else 1


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as apk orders ``a`` against ``b``."""
    return _compare(a, b)


def op_mask(op: str) -> int:
    """The match bits of an operator (``<``, ``<=``, ``=``, ``>=``, ``>``, ``~``, ``><``)."""
    mask = 0
    for c in op:
        if c == "<":
            mask |= LESS
        elif c == ">":
            mask |= GREATER
        elif c == "=":
            mask |= EQUAL
        elif c == "~":
            mask |= FUZZY | EQUAL
        else:
            return 0
    return mask


def op_string(mask: int) -> str:
    """apk_version_op_string: the canonical text of a match mask ("" for any version)."""
    names = {
        LESS: "<",
        LESS | EQUAL: "<=",
        LESS | EQUAL | FUZZY: "<~",
        EQUAL | FUZZY: "~",
        FUZZY: "~",
        EQUAL: "=",
        GREATER | EQUAL: ">=",
        GREATER | EQUAL | FUZZY: ">~",
        GREATER: ">",
        CHECKSUM: "><",
        ANY: "",
    }
    return names.get(mask & ~CONFLICT, "?")


def matches(version: str, mask: int, ref: str) -> bool:
    """apk_version_match with a raw mask (conflict bit inverts)."""
    if mask & ANY == ANY:
        ok = True
    else:
        r = _compare(version, ref, bool(mask & FUZZY))
        bit = EQUAL if r == 0 else (LESS if r < 0 else GREATER)
        ok = bool(bit & mask)
    return not ok if mask & CONFLICT else ok


def satisfies(version: str, op: str, ref: str) -> bool:
    """Does ``version`` satisfy ``op ref`` (e.g. ``satisfies("1.2-r1", ">=", "1.2")``)?"""
    mask = op_mask(op.lstrip("!"))
    if op.startswith("!"):
        mask |= CONFLICT
    if not mask & ~CONFLICT:
        raise ValueError(f"unknown apk version operator {op!r}")
    return matches(version, mask, ref)
