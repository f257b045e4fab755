"""Dependency strings: opkg ``Depends`` → apk, and apk's ``[!]name[op version]`` syntax.

OpenWrt (include/package-pack.mk) turns the opkg Depends text into ``apk mkpkg --info depends:``
by deleting ``(`` and ``)``, deleting every space, and turning commas into separators:
``kernel (=6.6.93~abc-r1), kmod-nf-flow`` → ``kernel=6.6.93~abc-r1 kmod-nf-flow``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kmodkit.errors import FormatError
from kmodkit.formats import apk_version as V

_COMPARERS = frozenset("<=>~")
# apk's APK_CTYPE_DEPENDENCY_NAME: package-name characters plus , : / [ ]
_DEP_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._,:/[]"
)


@dataclass(frozen=True)
class ApkDependency:
    """One parsed apk dependency; ``op`` is canonical ("" when any version will do)."""

    name: str
    op: str = ""
    version: str | None = None
    negated: bool = False

    @property
    def match(self) -> int:
        """apk's match mask (the ``match`` field of a dependency object)."""
        mask = V.op_mask(self.op) if self.op else V.ANY
        return mask | (V.CONFLICT if self.negated else 0)

    def __str__(self) -> str:
        bang = "!" if self.negated else ""
        if self.version is None:
            return f"{bang}{self.name}"
        return f"{bang}{self.name}{self.op}{self.version}"


def parse_apk_dependency(text: str) -> ApkDependency:
    """Parse ``[!]name[op version]`` exactly as apk_dep_parse + dependency_fromstring do."""
    spec = text
    negated = spec.startswith("!")
    if negated:
        spec = spec[1:]
    cut = next((i for i, c in enumerate(spec) if c in _COMPARERS), len(spec))
    name, rest = spec[:cut], spec[cut:]
    if not name or any(c not in _DEP_NAME_CHARS for c in name):
        raise FormatError(f"invalid apk dependency name in {text!r}")
    if not rest:
        return ApkDependency(name, "", None, negated)
    end = next((i for i, c in enumerate(rest) if c not in _COMPARERS), len(rest))
    op, version = rest[:end], rest[end:]
    mask = V.op_mask(op)
    if mask == 0:
        raise FormatError(f"invalid operator {op!r} in apk dependency {text!r}")
    if mask & V.CHECKSUM != V.CHECKSUM and not V.is_valid(version):
        raise FormatError(f"invalid version {version!r} in apk dependency {text!r}")
    return ApkDependency(name, V.op_string(mask), version, negated)


def format_dependency(name: str, version: str | None, match: int | None) -> str:
    """dependency_tostring: the text apk adbdump prints for a dependency object."""
    mask = match or V.EQUAL
    bang = "!" if mask & V.CONFLICT else ""
    if version is None:
        return f"{bang}{name}" if bang else name
    return f"{bang}{name}{V.op_string(mask)}{version}"


def split_apk_dependencies(text: str) -> list[str]:
    """apk_dep_split: items are separated by spaces and newlines."""
    return text.replace("\n", " ").split()


def opkg_to_apk_depends(items: Sequence[str]) -> list[str]:
    """Convert opkg Depends items as OpenWrt's package-pack.mk does for ``apk mkpkg``.

    Alternatives (``a | b``) have no apk equivalent and OpenWrt would emit an invalid item, so
    they are refused here instead of producing a package apk cannot install.
    """
    joined = ", ".join(items)
    squeezed = joined.replace("(", "").replace(")", "")
    squeezed = "".join(squeezed.split())
    out = [part for part in squeezed.split(",") if part]
    for item in out:
        if "|" in item:
            raise FormatError(f"opkg alternative dependency {item!r} has no apk equivalent")
        parse_apk_dependency(item)
    return out
