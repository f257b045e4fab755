"""``invoke generate`` and ``invoke deps``: the catalog, resolver and renderers at the CLI edge."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.tree import Tree

from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.cli import check_writable_dir
from kmodkit.errors import UsageError
from kmodkit.render import FLAVOURS, render_feed
from kmodkit.resolve import Closure, resolve_closure

FORMATS = ("tree", "json", "dot", "mermaid")


def _closure(package: str, release: str, target: str, feeds: list[str]) -> Closure:
    rel, tgt = lookup_release(release), lookup_target(target)
    catalog = load_catalog([Path(f) for f in feeds])
    return resolve_closure(
        catalog, package, release=rel, target=tgt, kernel_version=rel.kernel_series_for(tgt)
    )


def generate(
    *, release: str, target: str, package: str, flavour: str, out: str, feeds: list[str]
) -> int:
    if flavour not in FLAVOURS:
        raise UsageError(f"unknown flavour {flavour!r}; valid: {', '.join(FLAVOURS)}")
    check_writable_dir(Path(out), f"--out {out}")
    closure = _closure(package, release, target, feeds)
    paths = render_feed(
        closure, flavour=flavour, out_dir=Path(out), release=closure.release, target=closure.target
    )
    console = Console(highlight=False)
    console.print(
        f"{len(paths)} files for {len(closure.packages)} packages "
        f"(OpenWrt {closure.release.name}, {closure.target.name}, kernel "
        f"{closure.kernel_version}, {flavour}) in {out}"
    )
    for pkg in closure.packages:
        if pkg.empty:
            console.print(f"  note: {pkg.name} is an empty package: {pkg.empty_reason}")
    console.print(f"  add to feeds.conf: src-link kmodkit {Path(out).resolve()}")
    return 0


def _edges(closure: Closure) -> list[tuple[str, str]]:
    return [(p.name, d) for p in closure.packages for d in p.depends]


def format_deps(closure: Closure, fmt: str) -> str:
    """The closure as a tree, JSON, Graphviz DOT or a Mermaid flowchart."""
    if fmt == "json":
        data = [
            {"name": p.name, "depends": list(p.depends), "why": list(p.why), "empty": p.empty}
            for p in closure.packages
        ]
        return (
            json.dumps(
                {
                    "root": list(closure.root),
                    "release": closure.release.name,
                    "kernel_version": closure.kernel_version,
                    "packages": data,
                },
                indent=2,
            )
            + "\n"
        )
    if fmt == "dot":
        lines = ["digraph deps {", "  rankdir=LR;", "  node [shape=box];"]
        for pkg in closure.packages:
            style = ", style=dashed" if pkg.empty else ""
            lines.append(f'  "{pkg.name}" [label="{pkg.name}"{style}];')
        lines += [f'  "{a}" -> "{b}";' for a, b in _edges(closure)]
        return "\n".join([*lines, "}"]) + "\n"
    if fmt == "mermaid":
        ids = {p.name: f"n{i}" for i, p in enumerate(closure.packages)}
        lines = ["graph LR"]
        lines += [f'  {ids[p.name]}["{p.name}"]' for p in closure.packages]
        lines += [f"  {ids[a]} --> {ids[b]}" for a, b in _edges(closure)]
        return "\n".join(lines) + "\n"
    raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def _tree(closure: Closure) -> Tree:
    by_name = {p.name: p for p in closure.packages}

    def add(node: Tree, name: str, seen: frozenset[str]) -> None:
        pkg = by_name[name]
        label = name + (" (empty)" if pkg.empty else "")
        child = node.add(label if name not in seen else f"{name} ...")
        if name not in seen:
            for dep in pkg.depends:
                add(child, dep, seen | {name})

    root = Tree(
        f"OpenWrt {closure.release.name} {closure.target.name} (kernel {closure.kernel_version})"
    )
    for name in closure.root:
        add(root, name, frozenset())
    return root


def deps(*, package: str, release: str, target: str, fmt: str, feeds: list[str]) -> int:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    closure = _closure(package, release, target, feeds)
    console = Console(highlight=False, soft_wrap=True)
    if fmt == "tree":
        console.print(_tree(closure))
    else:
        console.out(format_deps(closure, fmt), end="")
    return 0
