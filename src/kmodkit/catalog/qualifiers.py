"""OpenWrt-style qualifiers: kernel version filters, release ranges and dependency conditions.

Kernel filters follow package-metadata.pl's ``version_filter_list``: an item may end in
``@lt5.17``/``@ge5.13`` (lt le gt ge eq ne) and is kept when the kernel's patch version
(``x.y``) satisfies it. Release ranges are our own catalog notation (``>=22.03,<snapshot``),
so one spec covers every release instead of copy-pasted variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

QUALIFIER_RE = re.compile(r"@(lt|le|gt|ge|eq|ne)(\d+(?:\.\d+)+)$")
_ANY_QUALIFIER_RE = re.compile(r"@([A-Za-z]*)([^@]*)$")
_RANGE_CLAUSE_RE = re.compile(r"^(>=|<=|==|!=|>|<)?\s*([A-Za-z0-9_.-]+)$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_OPS: dict[str, Callable[[int, int], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}
_RANGE_OPS = {">=": "ge", "<=": "le", ">": "gt", "<": "lt", "==": "eq", "!=": "ne"}


class QualifierError(ValueError):
    """Raised for malformed qualifier text; the loader turns it into a SpecError with a line."""


def version_to_num(text: str) -> int:
    """The number package-metadata.pl compares: 8 bits per component, four components."""
    if not re.fullmatch(r"\d+(?:\.\d+)+", text):
        return 0
    parts = [int(p) for p in text.split(".")] + [0, 0, 0, 0]
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def patch_version(kernel_version: str) -> str:
    """``6.6.93`` -> ``6.6`` (OpenWrt's KERNEL_PATCHVER, which qualifiers compare against)."""
    match = re.match(r"^(\d+)\.(\d+)", kernel_version)
    if not match:
        raise QualifierError(f"not a kernel version: {kernel_version!r}")
    return f"{match.group(1)}.{match.group(2)}"


def split_qualifier(item: str) -> tuple[str, str | None]:
    """Split ``net/x.ko@lt5.17`` into (``net/x.ko``, ``lt5.17``); reject malformed qualifiers."""
    if "@" not in item[1:]:
        return item, None
    match = QUALIFIER_RE.search(item)
    if match is None or match.start() == 0:
        bad = _ANY_QUALIFIER_RE.search(item)
        text = bad.group(0) if bad else item
        raise QualifierError(
            f"bad kernel qualifier {text!r} in {item!r} (expected @lt|le|gt|ge|eq|ne<x.y>)"
        )
    return item[: match.start()], f"{match.group(1)}{match.group(2)}"


def qualifier_holds(qualifier: str | None, patchver: str) -> bool:
    if qualifier is None:
        return True
    match = re.fullmatch(r"(lt|le|gt|ge|eq|ne)(\d+(?:\.\d+)+)", qualifier)
    if match is None:
        raise QualifierError(f"bad kernel qualifier {qualifier!r}")
    have, want = version_to_num(patchver), version_to_num(match.group(2))
    if have == 0 or want == 0:
        return True
    return _OPS[match.group(1)](have, want)


def filter_items(items: Sequence[str], patchver: str) -> list[str]:
    """Keep items whose qualifier holds for ``patchver``, with the qualifier removed."""
    kept: list[str] = []
    for item in items:
        value, qualifier = split_qualifier(item)
        if qualifier_holds(qualifier, patchver):
            kept.append(value)
    return kept


@dataclass(frozen=True)
class ReleaseRange:
    """A conjunction of ``(op, release)`` clauses over the ordered release list."""

    text: str
    clauses: tuple[tuple[str, str], ...]

    def contains(self, release: str, order: Sequence[str]) -> bool:
        position = order.index(release)
        return all(_OPS[op](position, order.index(name)) for op, name in self.clauses)


def parse_release_range(text: str, known: Collection[str]) -> ReleaseRange:
    """Parse ``>=22.03,<snapshot`` / ``21.02`` / ``!=snapshot`` against the known releases."""
    clauses: list[tuple[str, str]] = []
    for raw in text.split(","):
        clause = raw.strip()
        match = _RANGE_CLAUSE_RE.match(clause)
        if not match:
            raise QualifierError(f"bad release range clause {clause!r} in {text!r}")
        op, name = match.group(1) or "==", match.group(2)
        if name not in known:
            raise QualifierError(
                f"unknown release {name!r} in range {text!r} (known: {', '.join(known)})"
            )
        clauses.append((_RANGE_OPS[op], name))
    return ReleaseRange(text, tuple(clauses))


def check_condition(text: str) -> None:
    """A dependency condition: SYM, !SYM, joined by && or || (no parentheses)."""
    for alternative in text.split("||"):
        for term in alternative.split("&&"):
            name = term.strip().removeprefix("!")
            if not _SYMBOL_RE.match(name):
                raise QualifierError(f"bad condition {text!r}")


def eval_condition(text: str, symbols: Collection[str]) -> bool:
    for alternative in text.split("||"):
        ok = True
        for term in alternative.split("&&"):
            term = term.strip()
            value = term.removeprefix("!") in symbols
            if value == term.startswith("!"):
                ok = False
                break
        if ok:
            return True
    return False
