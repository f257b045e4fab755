"""The ``catalog`` task collection (``kmodkit catalog.import``)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from kmodkit.cli import run


@task(
    name="import",
    help={
        "openwrt": "OpenWrt checkout or extracted SDK to read KernelPackage definitions from",
        "release": "release or point release (default: the tree's include/version.mk)",
        "target": "target/subtarget or alias, for its KERNEL_PATCHVER (default x86_64)",
        "package": "root packages, comma-separated (default kmod-nft-offload)",
        "write": "write the closure as catalog specs (TOML) into this directory",
        "diff": "compare with the kmodkit catalog field by field; exit 1 on differences",
        "feed": "extra catalog directory to compare against (comma-separated for several)",
    },
)
def import_(
    c: Context,
    openwrt: str = "",
    release: str = "",
    target: str = "x86_64",
    package: str = "kmod-nft-offload",
    write: str = "",
    diff: bool = False,
    feed: str = "",
) -> None:
    """Import KernelPackages from an OpenWrt tree (GNU make evaluates its own .mk files)."""
    from kmodkit.cli import catalog_import
    from kmodkit.cli.tasks import split_commas

    run(
        catalog_import.import_openwrt,
        openwrt=openwrt,
        release=release or None,
        target=target,
        packages=split_commas(package),
        write=write or None,
        diff=diff,
        feeds=split_commas(feed),
    )


catalog = Collection("catalog")
catalog.add_task(import_)
