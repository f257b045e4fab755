"""``kmodkit catalog.import``: read an OpenWrt tree's KernelPackages, save or compare them."""

from __future__ import annotations

from pathlib import Path

from kmodkit.catalog import load_catalog
from kmodkit.catalog.openwrt_compare import compare, write_specs
from kmodkit.catalog.openwrt_specs import ImportResult, import_tree
from kmodkit.cli import stdout_console
from kmodkit.errors import UsageError


def _heading(result: ImportResult) -> str:
    release = result.release.point or result.release.name
    return (
        f"OpenWrt {release} ({result.tree.root}), {result.target.name}, kernel "
        f"{result.linux_version}: {len(result.closure.packages)} packages"
    )


def import_openwrt(
    *,
    openwrt: str,
    release: str | None,
    target: str,
    packages: list[str],
    write: str | None,
    diff: bool,
    feeds: list[str],
) -> int:
    """Exit 0, or 1 when ``diff`` found differences; bad input raises (exit 2)."""
    if not openwrt:
        raise UsageError("--openwrt DIR is required (an OpenWrt checkout or SDK)")
    result = import_tree(
        Path(openwrt), release=release, target=target, packages=packages or ["kmod-nft-offload"]
    )
    console = stdout_console()
    console.print(_heading(result))
    if write:
        paths = write_specs(result, Path(write))
        console.print(f"{len(paths)} specs written to {write} (use them with --feed {write})")
    if diff:
        differences = compare(result, load_catalog([Path(f) for f in feeds]))
        for difference in differences:
            console.print(f"  {difference.line()}", markup=False)
        if differences:
            console.print(f"{len(differences)} differences from the kmodkit catalog")
            return 1
        console.print("no differences from the kmodkit catalog")
    if not write and not diff:
        for package in result.closure.packages:
            modules = " ".join(f.module for f in package.files) or "(no modules)"
            console.print(f"  {package.name}: {modules}", markup=False)
    return 0
