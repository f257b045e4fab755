"""Reproducibility check: build twice into separate directories and compare every byte.

Packing bypasses the pack cache, so both runs really produce their packages; compiled
modules come from the module cache (recompiling is what Kbuild's own reproducibility covers).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from kmodkit.pipeline.build import BuildOptions, build
from kmodkit.verify.rebuild import Difference, compare_trees


def check_reproducible(options: BuildOptions) -> list[Difference]:
    """Every artifact whose bytes differ between two fresh builds (each verified on its own)."""
    with tempfile.TemporaryDirectory(prefix="kmodkit-repro-") as tmp:
        runs = [
            build(dataclasses.replace(options, out=Path(tmp) / name, reuse_packs=False))
            for name in ("a", "b")
        ]
        return compare_trees(runs[0].out_dir, runs[1].out_dir)
