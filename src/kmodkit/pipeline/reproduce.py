"""Reproducibility check: build twice, the second time from scratch elsewhere, compare bytes.

The first build uses the normal cache (its modules may have been compiled long ago, anywhere
under it). The second runs in a different directory with a fresh, separate cache: kernel
sources unpacked again, every module compiled again in another scratch path, nothing reused
from the pack cache. Only the signing keys are shared (a fresh cache would make new ones), so
any byte that depends on paths, time, umask or order shows up as a difference.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from kmodkit import resources
from kmodkit.pipeline.build import BuildOptions, build
from kmodkit.pipeline.keys import local_key_paths
from kmodkit.verify.rebuild import Difference, compare_trees


@contextlib.contextmanager
def separate_cache(path: Path) -> Iterator[Path]:
    """Within the block, kmodkit's cache is ``path`` (KMODKIT_CACHE, restored afterwards)."""
    old = os.environ.get("KMODKIT_CACHE")
    os.environ["KMODKIT_CACHE"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("KMODKIT_CACHE", None)
        else:
            os.environ["KMODKIT_CACHE"] = old


def check_reproducible(
    options: BuildOptions, progress: Callable[[str], None] | None = None
) -> list[Difference]:
    """Every artifact whose bytes differ between the two builds (each verified on its own)."""
    usign, apk = local_key_paths(resources.cache_dir())
    with tempfile.TemporaryDirectory(prefix="kmodkit-repro-") as tmp:
        first = build(
            dataclasses.replace(options, out=Path(tmp) / "a", reuse_packs=False), progress
        )
        keys = dataclasses.replace(
            options, usign_key=options.usign_key or usign, apk_key=options.apk_key or apk
        )
        with separate_cache(Path(tmp) / "scratch" / "cache") as cache:
            if progress:
                progress(f"rebuilding from scratch with a separate cache: {cache}")
            second = build(
                dataclasses.replace(keys, out=Path(tmp) / "b", reuse_packs=False), progress
            )
        return compare_trees(first.out_dir, second.out_dir)
