"""How long generating the whole kmod-nft-offload feed takes, relative to merely parsing
the catalog's TOML files (the unavoidable floor), measured in the same run.

    python bench/bench_generate.py
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.render import render_feed
from kmodkit.resolve import resolve_closure
from kmodkit.resources import feeds_dir


def best_of(fn: Callable[[], object], rounds: int = 20) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def parse_only() -> None:
    for path in sorted(feeds_dir().rglob("*.toml")):
        tomllib.loads(path.read_text(encoding="utf-8"))


def generate(out: Path) -> None:
    release, target = lookup_release("24.10"), lookup_target("x86_64")
    closure = resolve_closure(load_catalog(), "kmod-nft-offload", release=release, target=target)
    render_feed(closure, flavour="buildroot", out_dir=out, release=release, target=target)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reference = best_of(parse_only)
        full = best_of(lambda: generate(Path(tmp) / "feed"))
    print(f"parse TOML only : {reference * 1000:8.2f} ms")
    print(f"generate feed   : {full * 1000:8.2f} ms  ({full / reference:.1f}x the parse floor)")


if __name__ == "__main__":
    main()
