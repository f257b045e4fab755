"""Opt-in: import the kmod-nft-offload chain from a real OpenWrt tree and find no difference.

Set ``KMODKIT_OPENWRT_DIR`` to an OpenWrt checkout or SDK (e.g. ``git archive v24.10.7``
exported from a mirror) and optionally ``KMODKIT_OPENWRT_TARGETS`` (comma-separated, default
``x86_64``). Nothing here can run without such a tree, so without the variable the tests are
skipped, said so in the skip reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodkit.catalog import Catalog, load_catalog
from kmodkit.catalog.openwrt_compare import compare
from kmodkit.catalog.openwrt_specs import import_tree
from kmodkit.catalog.tables import release_order
from kmodkit.render import render_feed

TREE = os.environ.get("KMODKIT_OPENWRT_DIR", "")
TARGETS = [t for t in os.environ.get("KMODKIT_OPENWRT_TARGETS", "x86_64").split(",") if t]

pytestmark = pytest.mark.skipif(
    not TREE, reason="opt-in: set KMODKIT_OPENWRT_DIR to a real OpenWrt tree"
)


@pytest.mark.parametrize("target", TARGETS)
def test_real_tree_matches_the_bundled_catalog(target: str) -> None:
    imported = import_tree(Path(TREE), target=target)
    differences = [d.line() for d in compare(imported, load_catalog())]
    assert differences == [], "\n".join(differences)


@pytest.mark.parametrize("target", TARGETS)
def test_real_tree_round_trip(target: str, tmp_path: Path) -> None:
    """The Makefiles kmodkit generates from the catalog, evaluated with the tree's own include
    files, define what the tree's modules/*.mk define."""
    imported = import_tree(Path(TREE), target=target)
    closure = imported.closure
    ours = compare(imported, load_catalog())
    assert ours == []
    from kmodkit.resolve import resolve_closure

    generated = resolve_closure(
        load_catalog(),
        list(closure.root),
        release=imported.release,
        target=imported.target,
        kernel_version=imported.linux_version,
    )
    render_feed(
        generated,
        flavour="buildroot",
        out_dir=tmp_path / "feed",
        release=imported.release,
        target=imported.target,
    )
    back = import_tree(Path(TREE), target=target, feed=tmp_path / "feed")
    original = Catalog(imported.specs, tuple(release_order()))
    differences = [d.line() for d in compare(back, original, source=False)]
    assert differences == [], "\n".join(differences)
