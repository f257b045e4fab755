"""Reproducibility check: build twice into separate directories and compare every byte.

Packing bypasses the pack cache, so both runs really produce their packages; compiled
modules come from the module cache (recompiling is what Kbuild's own reproducibility covers).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from kmodkit.build.pipeline import BuildOptions, build
from kmodkit.verify.reproduce import compare_trees


def check_reproducible(options: BuildOptions) -> list[str]:
    """Every artifact whose bytes differ between two fresh builds, as one line each."""
    with tempfile.TemporaryDirectory(prefix="kmodkit-repro-") as tmp:
        first = build(dataclasses.replace(options, out=Path(tmp) / "a", reuse_packs=False))
        second = build(dataclasses.replace(options, out=Path(tmp) / "b", reuse_packs=False))
        return [str(d) for d in compare_trees(first.out_dir, second.out_dir)]
