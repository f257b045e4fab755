"""opkg/Debian control stanzas: parsing, OpenWrt-exact formatting and dependency lists.

Values are kept as plain text with continuation lines joined by ``\\n`` (one leading space
removed), so ``format_control(parse_control(text))`` gives back what OpenWrt's build wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from kmodkit.errors import FormatError
from kmodkit.formats.model import PackageMeta

Field = tuple[str, str]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class Stanza:
    """One stanza as stored, with the facts strictness checks need: every field in order
    (a repeated field kept twice), the 1-based line of each, and where the stanza starts.

    Iterating gives the ``(key, value)`` pairs, so ``dict(stanza)`` keeps the last value of a
    repeated field, as opkg does.
    """

    fields: tuple[Field, ...]
    lines: tuple[int, ...]
    first_line: int = 1

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def value(self, key: str, default: str = "") -> str:
        return field_value(self.fields, key, default)

    @property
    def order(self) -> list[str]:
        """Field names in first-appearance order."""
        return list(dict.fromkeys(key for key, _ in self.fields))

    @property
    def duplicates(self) -> list[tuple[str, int]]:
        """``(name, line)`` of every repetition of a field already seen."""
        seen: set[str] = set()
        repeated = []
        for (key, _), line in zip(self.fields, self.lines, strict=True):
            if key in seen:
                repeated.append((key, line))
            seen.add(key)
        return repeated


def stanza_from_lines(lines: Sequence[str], where: str, first_line: int = 1) -> Stanza:
    """Fields of one stanza; ``first_line`` is the 1-based number of ``lines[0]`` for errors.

    A line starting with a space or tab continues the previous field, even when it holds
    nothing else (OpenWrt's paragraph separator in descriptions is a lone space). Each value's
    pieces are joined once at the end, so a field of a million continuation lines costs
    linear time.
    """
    keys: list[str] = []
    pieces: list[list[str]] = []
    numbers: list[int] = []
    for index, raw in enumerate(lines):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line[:1] in (" ", "\t"):
            if not pieces:
                lineno = first_line + index
                raise FormatError(f"line {lineno}: continuation line before any field", where=where)
            pieces[-1].append(line[1:].rstrip())
            continue
        key, sep, value = line.partition(":")
        if not sep or not _KEY.fullmatch(key):
            shown = line if len(line) <= 60 else line[:57] + "..."
            lineno = first_line + index
            raise FormatError(f"line {lineno}: expected 'Field: value', got {shown!r}", where=where)
        keys.append(key)
        pieces.append([value.strip()])
        numbers.append(first_line + index)
    fields = tuple(
        [
            (key, parts[0] if len(parts) == 1 else "\n".join(parts))
            for key, parts in zip(keys, pieces, strict=True)
        ]
    )
    return Stanza(fields, tuple(numbers), first_line)


def read_control(text: str, where: str) -> Stanza:
    """One control stanza (a ``control`` member); blank lines may only trail it."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for index, line in enumerate(lines):
        if not line.rstrip("\r"):
            raise FormatError(f"line {index + 1}: blank line inside a control stanza", where=where)
    return stanza_from_lines(lines, where)


def parse_control(text: str, where: str) -> list[Field]:
    """The fields of one control stanza, in order (see ``read_control`` for the facts)."""
    return list(read_control(text, where).fields)


def format_control(fields: Iterable[Field]) -> str:
    """Render fields as OpenWrt does: ``Description:`` takes two spaces, continuations one."""
    out: list[str] = []
    for key, value in fields:
        first, *rest = value.split("\n")
        gap = "  " if key == "Description" else " "
        out.append(f"{key}:{gap}{first}" if first or key == "Description" else f"{key}:")
        out.extend(f" {line}" for line in rest)
    return "".join(f"{line}\n" for line in out)


def description_text(description: str) -> str:
    """Normalise a description the way package-pack.mk's sed does (leading blanks dropped)."""
    lines = [line.strip() for line in description.strip("\n").split("\n")]
    return "\n".join(lines)


def control_fields_for(meta: PackageMeta, installed_size: int) -> list[Field]:
    """The control stanza OpenWrt writes for ``meta``, in its field order, empty fields omitted."""
    candidates: list[Field] = [
        ("Package", meta.name),
        ("Version", meta.version),
        ("Depends", ", ".join(meta.depends)),
        ("Conflicts", ", ".join(meta.conflicts)),
        ("Provides", ", ".join(meta.provides)),
        ("Source", meta.source),
        ("SourceName", meta.source_name),
        ("License", meta.license),
        ("LicenseFiles", meta.license_files),
        ("Section", meta.section),
        (
            "SourceDateEpoch",
            "" if meta.source_date_epoch is None else str(meta.source_date_epoch),
        ),
        ("URL", meta.url),
        ("ABIVersion", meta.abi_version),
        ("CPE-ID", meta.cpe_id),
        ("Maintainer", meta.maintainer),
        ("Architecture", meta.arch),
        ("Installed-Size", str(installed_size)),
        ("Description", description_text(meta.description)),
    ]
    return [(key, value) for key, value in candidates if value]


def field_value(fields: Iterable[Field], key: str, default: str = "") -> str:
    """The last value of ``key`` (opkg keeps the last one too), or ``default``."""
    found = default
    for name, value in fields:
        if name == key:
            found = value
    return found


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated control list (Depends, Provides, Conflicts) as stripped items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def ascii_uint(text: str) -> int | None:
    """A non-negative decimal of ASCII digits, or None (``str.isdigit`` accepts ``²``)."""
    return int(text) if text.isascii() and text.isdigit() else None


def meta_from_fields(fields: Sequence[Field]) -> PackageMeta:
    """Rebuild the shared package model from a control stanza (inverse of control_fields_for)."""
    epoch = field_value(fields, "SourceDateEpoch")
    return PackageMeta(
        name=field_value(fields, "Package"),
        version=field_value(fields, "Version"),
        arch=field_value(fields, "Architecture"),
        description=field_value(fields, "Description"),
        depends=split_list(field_value(fields, "Depends")),
        provides=split_list(field_value(fields, "Provides")),
        conflicts=split_list(field_value(fields, "Conflicts")),
        license=field_value(fields, "License"),
        license_files=field_value(fields, "LicenseFiles"),
        section=field_value(fields, "Section"),
        source=field_value(fields, "Source"),
        source_name=field_value(fields, "SourceName"),
        maintainer=field_value(fields, "Maintainer"),
        url=field_value(fields, "URL"),
        abi_version=field_value(fields, "ABIVersion"),
        cpe_id=field_value(fields, "CPE-ID"),
        source_date_epoch=ascii_uint(epoch),
    )


# ------------------------------------------------------------------------------ dependencies

OPS = ("<<", "<=", "=", ">=", ">>", "<", ">")
_ITEM = re.compile(
    r"\s*(?P<name>[^\s(),|]+)\s*(?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^\s()<>=][^\s()]*)\s*\))?\s*"
)


@dataclass(frozen=True)
class DependencyItem:
    """``name`` optionally constrained by ``op version`` (``kernel (=6.6.93~hash-r1)``)."""

    name: str
    op: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.op is None else f"{self.name} ({self.op}{self.version})"


def parse_dependency(text: str, where: str = "Depends") -> DependencyItem:
    match = _ITEM.fullmatch(text)
    if match is None:
        raise FormatError(f"malformed dependency {text.strip()!r}", where=where)
    return DependencyItem(match["name"], match["op"], match["version"])


def parse_depends(value: str, where: str = "Depends") -> list[list[DependencyItem]]:
    """``a (>= 1.0) | b, c`` -> ``[[a>=1.0, b], [c]]``; empty items (stray commas) are skipped."""
    groups: list[list[DependencyItem]] = []
    for item in value.split(","):
        if not item.strip():
            continue
        groups.append([parse_dependency(alt, where) for alt in item.split("|")])
    return groups


def format_depends(groups: Iterable[Iterable[DependencyItem]]) -> str:
    return ", ".join(" | ".join(str(alt) for alt in group) for group in groups)
