"""Compare an imported OpenWrt closure with kmodkit's catalog, and save it as catalog specs.

Both sides are resolved the same way (release ranges, kernel qualifiers for the tree's kernel),
so the comparison is about what a package contains, not how a spec spells it. Extra files
(``/install`` recipes) are not compared: they are shell, and kmodkit ships documentation
OpenWrt does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kmodkit.catalog import Catalog
from kmodkit.catalog.openwrt_specs import ImportResult
from kmodkit.catalog.spec import PackageSpec
from kmodkit.fsutil import atomic_write_text
from kmodkit.resolve import Closure, ResolvedPackage, resolve_closure


@dataclass(frozen=True)
class Difference:
    package: str
    field: str
    openwrt: str
    catalog: str

    def line(self) -> str:
        return f"{self.package} {self.field}: OpenWrt {self.openwrt} | kmodkit {self.catalog}"


def _files(package: ResolvedPackage, with_symbols: bool) -> list[str]:
    out = []
    for f in package.files:
        text = f.path + (" (if m)" if f.optional else "")
        if with_symbols and f.optional and f.symbol:
            text += f" [{f.symbol}]"
        out.append(text)
    return sorted(out)


def _fields(package: ResolvedPackage, spec: PackageSpec) -> dict[str, str]:
    autoload = package.autoload
    return {
        "title": package.title,
        "submenu": package.submenu,
        "description": package.description.strip() or package.title,
        "hidden": str(package.hidden).lower(),
        "default": spec.default,
        "depends": " ".join(sorted(package.depends_spec)),
        "kconfig": " ".join(sorted(package.kconfig)),
        "autoload": (
            f"{autoload.filename}{' boot' if autoload.boot else ''}: "
            + " ".join(sorted(autoload.modules))
            if autoload
            else "-"
        ),
    }


def _show(values: Iterable[str]) -> str:
    text = ", ".join(values)
    return text or "-"


def compare(imported: ImportResult, catalog: Catalog, *, source: bool = True) -> list[Difference]:
    """Every field of the closure where the tree and ``catalog`` disagree (empty: none);
    ``source`` also compares the tree's Source field with the release table's."""
    ours = catalog_closure(imported, catalog)
    theirs = imported.closure
    diffs: list[Difference] = []
    if source and imported.source and imported.source != imported.release.source:
        diffs.append(Difference("*", "Source", imported.source, imported.release.source))
    a, b = set(theirs.names), set(ours.names)
    if a != b:
        diffs.append(Difference("*", "packages", _show(sorted(a - b)), _show(sorted(b - a))))
    for name in sorted(a & b):
        mine, other = ours.get(name), theirs.get(name)
        left = _fields(other, imported.specs[name])
        right = _fields(mine, ours.views[name].spec)
        for field, value in left.items():
            if value != right[field]:
                diffs.append(Difference(name, field, repr(value), repr(right[field])))
        symbols = all(f.symbol for f in other.files if f.optional)
        fa, fb = _files(other, symbols), _files(mine, symbols)
        if fa != fb:
            only_a = [f for f in fa if f not in fb]
            only_b = [f for f in fb if f not in fa]
            diffs.append(Difference(name, "files", _show(only_a), _show(only_b)))
    return diffs


def catalog_closure(imported: ImportResult, catalog: Catalog) -> Closure:
    return resolve_closure(
        catalog,
        list(imported.closure.root),
        release=imported.release,
        target=imported.target,
        kernel_version=imported.linux_version,
    )


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def spec_toml(spec: PackageSpec, origin: str) -> str:
    """One spec as TOML the catalog loader accepts (see feeds/base/*.toml)."""
    lines = [f"# {origin}", f"title = {_toml(spec.title)}", f"submenu = {_toml(spec.submenu)}"]
    if spec.description:
        lines.append(f"description = {_toml(spec.description)}")
    if spec.hidden:
        lines.append("hidden = true")
    if spec.default:
        lines.append(f"default = {_toml(spec.default)}")
    if spec.depends:
        lines.append(f"depends = [{', '.join(_toml(i.text) for i in spec.depends)}]")
    if spec.kconfig:
        lines.append("kconfig = [")
        lines += [f"  {_toml(i.text)}," for i in spec.kconfig]
        lines.append("]")
    if spec.files:
        lines.append("files = [")
        for f in spec.files:
            parts = [f"path = {_toml(f.path + (f'@{f.qualifier}' if f.qualifier else ''))}"]
            if f.symbol:
                parts.append(f"symbol = {_toml(f.symbol)}")
            if f.optional:
                parts.append("optional = true")
            lines.append(f"  {{ {', '.join(parts)} }},")
        lines.append("]")
    if spec.autoload is not None:
        auto = spec.autoload
        lines += ["", "[autoload]", f"kind = {_toml(auto.kind)}"]
        if auto.priority:
            lines.append(f"priority = {_toml(auto.priority)}")
        if auto.boot:
            lines.append("boot = true")
        lines.append(f"modules = [{', '.join(_toml(i.text) for i in auto.modules)}]")
    return "\n".join(lines) + "\n"


def write_specs(imported: ImportResult, out_dir: Path) -> list[Path]:
    """``<out_dir>/<short>.toml`` for every package of the closure (each written atomically)."""
    written = []
    for package in imported.closure.packages:
        spec = imported.specs[package.name]
        origin = (
            f"Imported by kmodkit from {spec.source_file} (OpenWrt {imported.release.name}, "
            f"{imported.target.name}, kernel {imported.linux_version})"
        )
        path = Path(out_dir) / f"{spec.name}.toml"
        atomic_write_text(path, spec_toml(spec, origin))
        written.append(path)
    return written
