"""opkg/Debian control stanzas: parsing, OpenWrt-exact formatting and dependency lists.

Values are kept as plain text with continuation lines joined by ``\\n`` (one leading space
removed), so ``format_control(parse_control(text))`` gives back what OpenWrt's build wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kmodkit.errors import FormatError
from kmodkit.formats.model import PackageMeta

Field = tuple[str, str]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def parse_stanza_lines(lines: Sequence[str], where: str, first_line: int = 1) -> list[Field]:
    """Fields of one stanza; ``first_line`` is the 1-based number of ``lines[0]`` for errors."""
    fields: list[Field] = []
    for index, raw in enumerate(lines):
        lineno = first_line + index
        line = raw.rstrip("\r")
        if line[:1] in (" ", "\t"):
            if not fields:
                raise FormatError(f"line {lineno}: continuation line before any field", where=where)
            key, value = fields[-1]
            fields[-1] = (key, f"{value}\n{line[1:].rstrip()}")
            continue
        key, sep, value = line.partition(":")
        if not sep or not _KEY.fullmatch(key):
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise FormatError(f"line {lineno}: expected 'Field: value', got {shown!r}", where=where)
        fields.append((key, value.strip()))
    return fields


def parse_control(text: str, where: str) -> list[Field]:
    """Parse one control stanza (a ``control`` member); blank lines may only trail it."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for index, line in enumerate(lines):
        if not line.strip() and not line.startswith((" ", "\t")):
            raise FormatError(f"line {index + 1}: blank line inside a control stanza", where=where)
    return parse_stanza_lines(lines, where)


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
