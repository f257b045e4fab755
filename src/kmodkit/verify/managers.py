"""The package managers' own rules (dependency grammar, version validity and ordering).

Thin adapters over kmodkit.formats, so the checks compare versions exactly as opkg or apk would
and parse Depends with the same grammar as the packers.
"""

from __future__ import annotations

import functools
import re

from kmodkit.errors import FormatError
from kmodkit.formats import control, opkg_version
from kmodkit.verify.views import Dep, Manager

# dpkg/opkg: [epoch:]upstream[-revision] (revision after the last '-'); upstream starts with
# a digit; no white space, no ':' after the epoch
_OPKG_VERSION = re.compile(r"^(?:\d+:)?\d[A-Za-z0-9.+~-]*$")


# (manager, Depends value) -> parsed groups: an index and its packages repeat the same values
_DEPENDS: dict[tuple[str, str], tuple[tuple[Dep, ...], ...]] = {}
_DEPENDS_MAX = 65536


def parse_depends(manager: Manager, value: str, where: str) -> list[list[Dep]]:
    """Depends of either manager as alternatives groups; FormatError on bad syntax."""
    key = (manager, value)
    groups = _DEPENDS.get(key)
    if groups is None:  # errors are not memoized: each caller's ``where`` names its own file
        groups = tuple(tuple(group) for group in _parse_depends(manager, value, where))
        if len(_DEPENDS) < _DEPENDS_MAX:
            _DEPENDS[key] = groups
    return [list(group) for group in groups]


def _parse_depends(manager: Manager, value: str, where: str) -> list[list[Dep]]:
    if manager == "opkg":
        return [
            [Dep(item.name, item.op or "", item.version or "") for item in group]
            for group in control.parse_depends(value, where)
        ]
    from kmodkit.formats.depends import parse_apk_dependency

    groups: list[list[Dep]] = []
    for token in value.split():
        try:
            dep = parse_apk_dependency(token)
        except FormatError as exc:
            raise FormatError(exc.message, where=where) from None
        groups.append([_apk_dep(dep)])
    return groups


def _apk_dep(dep: object) -> Dep:
    name = str(getattr(dep, "name", ""))
    op = getattr(dep, "op", None) or ""
    version = getattr(dep, "version", None) or ""
    if getattr(dep, "conflict", False) or getattr(dep, "negated", False):
        op = "!"
    return Dep(name, str(op), str(version))


def version_valid(manager: Manager, version: str) -> bool:
    if manager == "opkg":
        return bool(_OPKG_VERSION.match(version)) and not version.endswith("-")
    from kmodkit.formats import apk_version

    return bool(apk_version.is_valid(version))


@functools.lru_cache(maxsize=65536)
def satisfies(manager: Manager, version: str, op: str, ref: str) -> bool:
    """Does ``version`` meet ``op ref`` by the manager's own comparison rules?"""
    if not op:
        return True
    try:
        if manager == "opkg":
            return bool(opkg_version.satisfies(version, op, ref))
        from kmodkit.formats import apk_version

        return bool(apk_version.satisfies(version, op, ref))
    except FormatError:
        return False
