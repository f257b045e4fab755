"""The release and target tables (``feeds/releases.toml``, ``feeds/targets.toml``) as data."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from kmodkit.errors import SpecError, UsageError
from kmodkit.resources import feeds_dir

_RELEASE_FIELDS = {
    "kernel_series",
    "package_format",
    "version_scheme",
    "installed_size_mode",
    "source_field",
    "source_name_rule",
    "gcc",
    "sdk_compression",
    "points",
}
_RELEASE_CHOICES = {
    "package_format": ("ipk", "apk"),
    "version_scheme": ("dash1", "r1"),
    "installed_size_mode": ("data.tar.gz", "data.tar"),
    "source_name_rule": ("kernel", "package"),
}
_TARGET_FIELDS = {"pkg_arch", "kernel_arch", "aliases", "kernels"}
_POINT_FIELDS = {"source_field", "source_name_rule", "installed_size_mode", "gcc"}


@dataclass(frozen=True)
class Release:
    """What differs between OpenWrt releases for kmod packaging (facts §1, §7)."""

    name: str
    kernel_series: str
    package_format: Literal["ipk", "apk"]
    version_scheme: str
    installed_size_mode: str
    source_field: str
    source_name_rule: str
    gcc: str
    sdk_compression: str
    point: str = ""
    points: dict[str, dict[str, str]] = field(default_factory=dict)

    def kernel_series_for(self, target: Target | None) -> str:
        """The kernel series of this release on ``target``: the target's own ``kernels`` entry
        (snapshot boards move to a new kernel one by one), else the release's."""
        if target is not None and self.name in target.kernels:
            return target.kernels[self.name]
        return self.kernel_series

    def at_point(self, point: str) -> Release:
        """This release as of point release ``point`` (``23.05.5``): the ``points`` entries up
        to it apply (e.g. Source moved to feeds/base/kernel/linux in 23.05.5)."""
        wanted = _point_key(point)
        changes: dict[str, Any] = {}
        for name, values in sorted(self.points.items(), key=lambda kv: _point_key(kv[0])):
            if _point_key(name) <= wanted:
                changes.update(values)
        return replace(self, point=point, **changes)

    def branch_head(self) -> Release:
        """The release branch after its last known point release (``23.05-SNAPSHOT``): every
        ``points`` change applies."""
        latest = max(self.points, key=_point_key, default=None)
        if latest is None:
            return replace(self, point=f"{self.name}-SNAPSHOT")
        return replace(self.at_point(latest), point=f"{self.name}-SNAPSHOT")

    def source_name(self, package: str) -> str:
        return "kernel" if self.source_name_rule == "kernel" else package

    def source_name_for(self, package: str) -> str:
        """The control file's SourceName for ``package`` (``kernel`` from 24.10 on)."""
        return self.source_name(package)

    @property
    def source(self) -> str:
        """The control file's Source field (``feeds/base/kernel/linux`` from 24.10 on)."""
        return self.source_field

    @property
    def ipk_installed_size(self) -> Literal["data.tar.gz", "data.tar"]:
        """What ipk Installed-Size measures: ``data.tar.gz`` (<= 23.05) or ``data.tar``."""
        return cast(Literal["data.tar.gz", "data.tar"], self.installed_size_mode)


@dataclass(frozen=True)
class Target:
    """An OpenWrt target/subtarget and what it implies for packages and Kbuild."""

    name: str
    board: str
    subtarget: str
    pkg_arch: str
    kernel_arch: str
    aliases: tuple[str, ...] = ()
    kernels: dict[str, str] = field(default_factory=dict)

    @property
    def symbols(self) -> tuple[str, ...]:
        """OpenWrt's Kconfig target symbols (``TARGET_x86``, ``TARGET_x86_64``)."""
        board = _confstr(self.board)
        return (f"TARGET_{board}", f"TARGET_{board}_{_confstr(self.subtarget)}")


def _point_key(point: str) -> tuple[int, ...]:
    return tuple(int(part) for part in point.split("."))


def _confstr(text: str) -> str:
    return re.sub(r"[/.\-]", "_", text)


def _read_table(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SpecError(f"cannot read table: {exc.strerror}", where=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"invalid TOML: {exc}", where=str(path)) from exc


def _check_fields(path: Path, key: str, entry: Any, allowed: set[str], required: set[str]) -> None:
    if not isinstance(entry, dict):
        raise SpecError(f"[{key!r}] must be a table", where=str(path))
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise SpecError(f"[{key!r}]: unknown field {unknown[0]!r}", where=str(path))
    missing = sorted(required - set(entry))
    if missing:
        raise SpecError(f"[{key!r}]: missing field {missing[0]!r}", where=str(path))


@cache
def releases(root: Path | None = None) -> dict[str, Release]:
    """All releases in table order (oldest first; ``snapshot`` last)."""
    path = (root or feeds_dir()) / "releases.toml"
    table = _read_table(path)
    result: dict[str, Release] = {}
    for name, entry in table.items():
        _check_fields(path, name, entry, _RELEASE_FIELDS, _RELEASE_FIELDS - {"points"})
        for point, values in entry.get("points", {}).items():
            if not re.fullmatch(re.escape(name) + r"\.\d+", point):
                raise SpecError(
                    f"[{name!r}] points: {point!r} is not a {name}.N release", where=str(path)
                )
            _check_fields(path, f"{name}.points.{point}", values, _POINT_FIELDS, set())
        for key, allowed in _RELEASE_CHOICES.items():
            if entry[key] not in allowed:
                raise SpecError(
                    f"[{name!r}] {key} must be one of {', '.join(allowed)}", where=str(path)
                )
        result[name] = Release(name=name, **entry)
    return result


@cache
def targets(root: Path | None = None) -> dict[str, Target]:
    path = (root or feeds_dir()) / "targets.toml"
    table = _read_table(path)
    result: dict[str, Target] = {}
    for name, entry in table.items():
        _check_fields(path, name, entry, _TARGET_FIELDS, {"pkg_arch", "kernel_arch"})
        board, _, subtarget = name.partition("/")
        if not subtarget:
            raise SpecError(f"target {name!r} is not <target>/<subtarget>", where=str(path))
        result[name] = Target(
            name=name,
            board=board,
            subtarget=subtarget,
            pkg_arch=entry["pkg_arch"],
            kernel_arch=entry["kernel_arch"],
            aliases=tuple(entry.get("aliases", ())),
            kernels=dict(entry.get("kernels", {})),
        )
    return result


def all_releases() -> list[Release]:
    """Every release, oldest first."""
    return list(releases().values())


def release_order() -> list[str]:
    return list(releases())


def lookup_release(name: str) -> Release:
    """A release by name (``24.10``); a point release such as ``23.05.5`` maps to its series
    with the facts that changed within the series up to that point (``points``)."""
    table = releases()
    key = name.strip()
    if key in table:
        return table[key]
    series = ".".join(key.split(".")[:2])
    if series not in table or not re.fullmatch(r"\d+\.\d+\.\d+", key):
        raise UsageError(
            f"unknown release {name!r}; valid: {', '.join(table)} (or a point: 23.05.5)"
        )
    return table[series].at_point(key)


def lookup_target(name: str) -> Target:
    """A target by ``board/subtarget``, ``board-subtarget``, an alias such as ``x86_64``, or a
    package arch that exactly one target uses (a shared one such as ``mips_24kc`` is refused,
    naming the targets to choose from)."""
    table = targets()
    wanted = name.strip()
    if wanted in table:
        return table[wanted]
    for target in table.values():
        if wanted in target.aliases or wanted == f"{target.board}-{target.subtarget}":
            return target
    by_arch = [key for key, target in table.items() if target.pkg_arch == wanted]
    if len(by_arch) == 1:
        return table[by_arch[0]]
    if by_arch:
        raise UsageError(
            f"package arch {wanted!r} is shared by {len(by_arch)} targets "
            f"({', '.join(by_arch)}); name one as board/subtarget"
        )
    raise UsageError(
        f"unknown target {name!r}; valid: {', '.join(table)} "
        "(or a package arch such as x86_64, or board-subtarget)"
    )
