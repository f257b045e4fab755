"""The package catalog: declarative kmod specs (``feeds/``) plus release and target tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodkit.catalog.loader import load_spec, spec_files
from kmodkit.catalog.spec import (
    AutoloadSpec,
    Dependency,
    ExtraFile,
    FileSpec,
    Item,
    PackageSpec,
    ReleaseView,
    in_release,
    view_for_release,
)
from kmodkit.catalog.tables import (
    Release,
    Target,
    all_releases,
    lookup_release,
    lookup_target,
    release_order,
    releases,
    targets,
)
from kmodkit.errors import SpecError, UsageError
from kmodkit.resources import feeds_dir

__all__ = [
    "AutoloadSpec",
    "Catalog",
    "Dependency",
    "ExtraFile",
    "FileSpec",
    "Item",
    "PackageSpec",
    "Release",
    "ReleaseView",
    "Target",
    "all_releases",
    "load_catalog",
    "lookup_release",
    "lookup_target",
    "releases",
    "targets",
]


@dataclass(frozen=True)
class Catalog:
    """All specs by package name (``kmod-nf-flow``); later feeds override earlier ones."""

    specs: dict[str, PackageSpec]
    release_names: tuple[str, ...]

    def get(self, name: str) -> PackageSpec:
        key = name if name.startswith("kmod-") else f"kmod-{name}"
        if key not in self.specs:
            raise UsageError(f"unknown package {name!r}; known: {', '.join(sorted(self.specs))}")
        return self.specs[key]

    def views(self, release: str) -> dict[str, ReleaseView]:
        """The specs that exist in ``release``, with release ranges applied."""
        order = self.release_names
        return {
            name: view_for_release(spec, release, order)
            for name, spec in sorted(self.specs.items())
            if in_release(spec.releases, release, order)
        }


def _check_references(specs: dict[str, PackageSpec]) -> None:
    for spec in specs.values():
        for index, item in enumerate(spec.depends):
            dep = Dependency.parse(item.value)
            if not dep.symbol and dep.target not in specs:
                raise SpecError(
                    f"field 'depends[{index}]': dependency on unknown package {dep.target!r}",
                    where=spec.where("depends").rsplit(" (", 1)[0],
                )


def _find_cycle(views: dict[str, ReleaseView]) -> list[str] | None:
    """A dependency cycle among ``views`` (package names, first repeated last), if any."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in views[name].depends:
            if dep.symbol or dep.target not in views:
                continue
            if state.get(dep.target) == 1:
                return [*stack[stack.index(dep.target) :], dep.target]
            if dep.target not in state and (found := visit(dep.target)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in views:
        if name not in state and (found := visit(name)):
            return found
    return None


def _check_cycles(catalog: Catalog) -> None:
    for release in catalog.release_names:
        views = catalog.views(release)
        cycle = _find_cycle(views)
        if cycle:
            raise SpecError(
                f"dependency cycle {' -> '.join(cycle)} (release {release})",
                where=views[cycle[-2]].spec.where("depends"),
            )


def load_catalog(extra_dirs: Sequence[Path] = ()) -> Catalog:
    """The bundled catalog plus the user's feed directories (their specs win by name)."""
    names = tuple(release_order())
    specs: dict[str, PackageSpec] = {}
    for directory in [feeds_dir(), *(Path(d) for d in extra_dirs)]:
        seen: dict[str, Path] = {}
        for path in spec_files(directory):
            spec = load_spec(path, names)
            if spec.package in seen:
                raise SpecError(
                    f"package {spec.package} is also defined in {seen[spec.package]}",
                    where=str(path),
                )
            seen[spec.package] = path
            specs[spec.package] = spec
    _check_references(specs)
    catalog = Catalog(dict(sorted(specs.items())), names)
    _check_cycles(catalog)
    return catalog
