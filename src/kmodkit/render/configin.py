"""``Config.in`` entries as OpenWrt's scripts/package-metadata.pl emits them.

Rules (facts §6): ``+pkg`` -> ``select PACKAGE_pkg`` and the selected package's own
``depends on`` lines are copied to the selector (menuconfig does not check a select's
dependencies); ``pkg`` -> ``depends on PACKAGE_pkg``; ``@SYM`` -> ``depends on SYM``;
``+@SYM`` -> ``select SYM``; ``+SYM:pkg`` -> ``select PACKAGE_pkg if SYM``;
``SYM:pkg`` -> ``depends on !(SYM) || PACKAGE_pkg``. Lines are sorted by their target.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kmodkit.render.env import render_template
from kmodkit.resolve import Closure, ResolvedPackage

CATEGORY = "Kernel modules"
_COND_RE = re.compile(r"^(.+):(.+)$")


@dataclass(frozen=True)
class ConfigEntry:
    name: str
    prompt: str
    defaults: tuple[str, ...]
    lines: tuple[str, ...]
    help: tuple[str, ...]


def prompt_text(name: str, title: str) -> str:
    """The name padded with dots so name + title fill 72 columns, then the title."""
    pad = 72 - len(name) - len(title)
    return f"{name}{'.' * pad} {title}" if pad > 0 else name


def _collect(
    pkgname: str,
    depends: Sequence[str],
    only_dep: bool,
    dep: dict[str, str],
    seen: set[str],
    parent: str,
    table: Mapping[str, Sequence[str]],
) -> None:
    copied: list[tuple[Sequence[str], str]] = []
    for raw in depends:
        body = raw.lstrip("+@")
        flags = raw[: len(raw) - len(body)]
        kind = "depends on"
        depend, condition = body, parent
        match = _COND_RE.match(depend)
        if match and dep.get(match.group(1)) == "select":
            depend = match.group(2)
        if condition == depend or f"{parent}:{depend}" in seen or f":{depend}" in seen:
            continue
        seen.add(f"{parent}:{depend}")
        match = _COND_RE.match(depend)
        if match:
            if match.group(1) != f"PACKAGE_{pkgname}":
                condition = f"{condition} && {match.group(1)}" if condition else match.group(1)
            depend = match.group(2)
        if "+" in flags:
            if depend in table:
                copied.append((table[depend], condition))
            kind = "select"
            if only_dep:
                continue
            if "@" not in flags:
                depend = f"PACKAGE_{depend}"
        elif depend in table or "@" not in flags:
            depend = f"PACKAGE_{depend}"
        if condition:
            if kind == "select":
                if depend == condition:
                    continue
                depend = f"{depend} if {condition}"
            else:
                if f"{depend} if {condition}" in dep:
                    continue
                if dep.get(condition) != "select":
                    depend = f"!({condition}) || {depend}"
        if dep.get(depend) != "select":
            dep[depend] = kind
    for depends_of, condition in copied:
        _collect(pkgname, depends_of, True, dep, seen, condition, table)


def depend_lines(
    name: str, depends: Sequence[str], table: Mapping[str, Sequence[str]]
) -> list[str]:
    """``depends on``/``select`` lines for one package; ``table`` maps every known package
    of the release to its DEPENDS (for copying a selected package's dependencies)."""
    dep: dict[str, str] = {}
    _collect(name, depends, False, dep, set(), "", table)
    return [f"{dep[key]} {key}" for key in sorted(dep)]


def _depends_on(a: str, b: str, table: Mapping[str, Sequence[str]]) -> bool:
    """package-metadata.pl's find_package_dep: it looks DEPENDS items up verbatim, so only
    plain ``pkg`` items (no ``+``/``@``/condition) order packages within a menu."""
    checked: set[str] = set()
    stack = [a]
    while stack:
        for item in table.get(stack.pop(), ()):
            if item in table and item not in checked:
                checked.add(item)
                if item == b:
                    return True
                stack.append(item)
    return False


def config_entry(package: ResolvedPackage, table: Mapping[str, Sequence[str]]) -> ConfigEntry:
    # package-metadata.pl: a package's DEFAULT replaces the "m if ALL..." line (hidden ones
    # have only their DEFAULT); several are comma-separated
    defaults = [f"y if DEFAULT_{package.name}"]
    default = package.default or ("" if package.hidden else "m if ALL||ALL_NONSHARED||ALL_KMODS")
    defaults += [d for d in re.split(r"\s*,\s*", default) if d]
    description = package.description.strip("\n").splitlines() or [""]
    helptext = [description[0].strip()] + [f" {line}" for line in description[1:]]
    return ConfigEntry(
        name=package.name,
        prompt="" if package.hidden else f'"{prompt_text(package.name, package.title)}"',
        defaults=tuple(defaults),
        lines=tuple(depend_lines(package.name, package.depends_spec, table)),
        help=tuple(helptext),
    )


def dependency_table(closure: Closure) -> dict[str, list[str]]:
    return {name: view.depends_raw for name, view in closure.views.items()}


def render_config_in(closure: Closure) -> str:
    """The "Kernel modules" category with one submenu per SUBMENU, as menuconfig sees it."""
    table = dependency_table(closure)
    menus: dict[str, list[ResolvedPackage]] = {}
    for package in closure.packages:
        menus.setdefault(package.submenu, []).append(package)

    def order(a: ResolvedPackage, b: ResolvedPackage) -> int:
        if _depends_on(a.name, b.name, table):
            return 1
        if _depends_on(b.name, a.name, table):
            return -1
        return (a.name > b.name) - (a.name < b.name)

    rendered = []
    for menu in sorted(menus):
        packages = sorted(menus[menu], key=functools.cmp_to_key(order))
        rendered.append((menu, [config_entry(p, table) for p in packages]))
    return render_template("Config.in.j2", category=CATEGORY, menus=rendered)


def render_entry(entry: ConfigEntry) -> str:
    return render_template("Config.in.j2", category=None, menus=[(None, [entry])])


def referenced_symbols(text: str) -> set[str]:
    """Every symbol a rendered Config.in refers to (for declaring them to kconfiglib)."""
    symbols: set[str] = set()
    for line in text.splitlines():
        stripped = line.strip()
        for prefix in ("depends on ", "select ", "default y if ", "default m if "):
            if stripped.startswith(prefix):
                expr = stripped[len(prefix) :]
                symbols.update(re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", expr))
    return {s for s in symbols if s not in ("if", "y", "m", "n")}


def declarations(config_in: str, declared: str = "") -> str:
    """``config X bool`` for every symbol ``config_in`` uses that neither it nor ``declared``
    (e.g. kconfig/openwrt.Kconfig) defines: DEFAULT_<pkg> and packages outside the closure."""
    defined = set(re.findall(r"^\s*config\s+(\S+)", f"{config_in}\n{declared}", re.MULTILINE))
    missing = sorted(referenced_symbols(config_in) - defined)
    return "".join(f"config {name}\n\tbool\n\n" for name in missing)
