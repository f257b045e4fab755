"""Turn an OpenWrt tree's evaluated KernelPackages into catalog specs for one release/target.

``import_tree`` evaluates the tree (see :mod:`kmodkit.catalog.openwrt_import`), keeps the
dependency closure of the asked packages and returns it both as :class:`PackageSpec` objects
(what ``--write`` saves) and resolved like the bundled catalog (what ``--diff`` compares).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodkit.catalog import Catalog, lookup_target
from kmodkit.catalog.openwrt_import import MakeJob, PassResult, RawPackage, new_workdir, run_passes
from kmodkit.catalog.openwrt_tree import OpenWrtTree, open_tree
from kmodkit.catalog.qualifiers import QualifierError, split_qualifier
from kmodkit.catalog.spec import AutoloadSpec, FileSpec, Item, PackageSpec
from kmodkit.catalog.tables import Release, Target, release_order
from kmodkit.errors import ResolveError, UsageError
from kmodkit.resolve import Closure, resolve_closure


@dataclass(frozen=True)
class ImportResult:
    tree: OpenWrtTree
    release: Release
    target: Target
    linux_version: str
    patchver: str
    source: str
    specs: dict[str, PackageSpec]
    closure: Closure


def _items(text: str, where: str) -> tuple[Item, ...]:
    items = []
    for word in text.split():
        try:
            value, qualifier = split_qualifier(word)
        except QualifierError as exc:
            raise UsageError(f"{where}: {exc}") from None
        items.append(Item(value, qualifier))
    return tuple(items)


def _description(text: str | None) -> str:
    """A description define's text without the one-space indent OpenWrt writes."""
    if not text:
        return ""
    lines = [line[1:] if line.startswith(" ") else line for line in text.splitlines()]
    return "\n".join(lines).strip("\n")


def _autoload(text: str, where: str) -> AutoloadSpec | None:
    """kernel.mk's AutoLoad value: ``<priority|0> <boot 1|0> modules...``."""
    words = text.split()
    if len(words) < 3:
        return None
    priority, boot = ("" if words[0] == "0" else words[0]), words[1] == "1"
    kind = "load" if priority or boot else "probe"
    return AutoloadSpec(kind, _items(" ".join(words[2:]), where), priority, boot)


def _owners(name: str, symbols: Sequence[str], bit_passes: Sequence[PassResult]) -> dict[str, str]:
    """File -> the one kernel symbol that puts it in FILES, from the passes that set bit i of
    every symbol's 1-based index."""
    codes: dict[str, int] = {}
    for bit, result in enumerate(bit_passes):
        raw = result.packages.get(name)
        for word in (raw.values.get("FILES", "") if raw else "").split():
            codes[word] = codes.get(word, 0) | (1 << bit)
    return {w: symbols[c - 1] for w, c in codes.items() if 0 < c <= len(symbols)}


def _files(
    none: RawPackage, full: RawPackage, owners: Mapping[str, str], where: str
) -> tuple[FileSpec, ...]:
    always = set(none.values.get("FILES", "").split())
    files = []
    for word in dict.fromkeys(full.values.get("FILES", "").split()):
        try:
            path, qualifier = split_qualifier(word)
        except QualifierError as exc:
            raise UsageError(f"{where}: {exc}") from None
        conditional = word not in always
        symbol = owners.get(word) if conditional else None
        files.append(FileSpec(path, qualifier, None, symbol, conditional))
    return tuple(files)


def to_spec(
    tree: OpenWrtTree, none: RawPackage, full: RawPackage, owners: Mapping[str, str]
) -> PackageSpec:
    values = none.values
    defined_in = values.get("DEFINED_IN", "")
    source_file = tree.root / "package/kernel/linux" / defined_in
    if Path(defined_in).is_absolute():
        source_file = Path(defined_in)
    where = f"{source_file} (KernelPackage/{none.name})"
    return PackageSpec(
        name=none.name,
        title=values.get("TITLE", ""),
        submenu=values.get("SUBMENU", ""),
        source_file=source_file,
        description=_description(none.description),
        hidden=bool(values.get("HIDDEN")),
        default=values.get("DEFAULT", ""),
        depends=tuple(Item(word) for word in values.get("DEPENDS", "").split()),
        kconfig=_items(values.get("KCONFIG", ""), where),
        files=_files(none, full, owners, where),
        autoload=_autoload(full.values.get("AUTOLOAD", ""), where),
    )


def _closure_names(
    tree: OpenWrtTree, none: PassResult, roots: Sequence[str], release: Release, target: Target
) -> list[str]:
    specs = {
        f"kmod-{n}": PackageSpec(
            n, "", "", tree.root, depends=tuple(Item(w) for w in raw.values["DEPENDS"].split())
        )
        for n, raw in none.packages.items()
        if n and "DEPENDS" in raw.values
    }
    for root in roots:
        if root not in specs:
            raise UsageError(f"{root} not found in {tree.modules_dir} (KernelPackage/{root[5:]})")
    catalog = Catalog(specs, tuple(release_order()))
    version = none.globals.get("LINUX_VERSION", "")
    closure = resolve_closure(
        catalog, roots, release=release, target=target, kernel_version=version
    )
    return [p.short for p in closure.packages]


def _kernel_symbols(none: PassResult, names: Sequence[str]) -> list[str]:
    symbols: set[str] = set()
    for name in names:
        for word in none.packages[name].values.get("KCONFIG", "").split():
            symbol = word.split("@")[0]
            if "=" not in symbol:
                symbols.add(symbol)
    return sorted(symbols)


def evaluate(
    tree: OpenWrtTree,
    target: Target,
    release: Release,
    roots: Sequence[str],
    makefiles: Sequence[tuple[str, Path]],
    cwd: Path,
    patchver: str,
) -> tuple[dict[str, PackageSpec], dict[str, str]]:
    """The closure of ``roots`` as specs, plus the make globals (LINUX_VERSION, SOURCE)."""
    workdir = new_workdir()
    try:
        job = MakeJob(tree, target, patchver, tuple(makefiles), workdir, cwd)
        none = run_passes(job, {"none": {}})["none"]
        if not none.globals.get("LINUX_VERSION"):
            raise UsageError(f"{tree.root}: the tree defines no LINUX_VERSION for {patchver}")
        names = _closure_names(tree, none, roots, release, target)
        symbols = _kernel_symbols(none, names)
        passes = {"all": dict.fromkeys(symbols, "m")}
        for bit in range(len(symbols).bit_length()):
            chosen = [s for i, s in enumerate(symbols, 1) if i >> bit & 1]
            passes[f"bit{bit}"] = dict.fromkeys(chosen, "m")
        results = run_passes(job, passes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bits = [results[f"bit{b}"] for b in range(len(symbols).bit_length())]
    specs = {}
    for name in names:
        owners = _owners(name, symbols, bits)
        spec = to_spec(tree, none.packages[name], results["all"].packages[name], owners)
        specs[spec.package] = spec
    source = none.packages[names[0]].values.get("SOURCE", "") if names else ""
    return specs, {**none.globals, "SOURCE": source}


def import_tree(
    path: Path,
    *,
    release: str | None = None,
    target: str = "x86_64",
    packages: Sequence[str] = ("kmod-nft-offload",),
    feed: Path | None = None,
) -> ImportResult:
    """Evaluate ``path``'s KernelPackages for ``target`` and keep the closure of ``packages``.

    With ``feed`` (a directory of package Makefiles, e.g. what ``generate`` writes) those
    Makefiles are evaluated with the tree's include files instead of the tree's own modules."""
    tree = open_tree(path)
    rel, tgt = tree.release(release), lookup_target(target)
    patchver = tree.patchver(tgt)
    roots = [p if p.startswith("kmod-") else f"kmod-{p}" for p in packages]
    if feed is None:
        makefiles = [(f"modules/{p.name}", p) for p in tree.module_files()]
        cwd = tree.root / "package/kernel/linux"
    else:
        found = sorted(Path(feed).glob("*/Makefile"))
        if not found:
            raise UsageError(f"{feed}: no <package>/Makefile to evaluate")
        makefiles = [(str(p.resolve()), p) for p in found]
        cwd = Path(feed)
    specs, globals_ = evaluate(tree, tgt, rel, roots, makefiles, cwd, patchver)
    version = globals_["LINUX_VERSION"]
    catalog = Catalog(specs, tuple(release_order()))
    try:
        closure = resolve_closure(catalog, roots, release=rel, target=tgt, kernel_version=version)
    except ResolveError as exc:
        raise UsageError(f"{tree.root}: {exc}") from None
    return ImportResult(tree, rel, tgt, version, patchver, globals_["SOURCE"], specs, closure)
