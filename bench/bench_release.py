"""Benchmark: N targets in one `invoke release` versus N sequential `invoke build`s.

Both sides are real CLI processes on the distro kernels (x86/64 native, the others cross
built). Warm: everything is cached, so the runs measure packing, signing, layout and verify.
Cold: a fresh cache that keeps only the prepared kernel trees and unpacked sources (so no
network and no `modules_prepare`), i.e. every module of every target is compiled again.
Parallel efficiency = (sequential time / release time) / parallel pairs.

Run: python bench/bench_release.py [--targets x86/64,armsr/armv8] [--warm-only]
(the first run prepares the cross trees into $KMODKIT_CACHE, which can take minutes)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEEP_COLD = ("trees", "sources", "debian", "keys")  # preparation, not per-target work


def invoke(args: list[str], cache: Path, cwd: Path) -> float:
    env = {**os.environ, "KMODKIT_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"`invoke {' '.join(args)}` failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def fresh_cache(base: Path, parent: Path) -> Path:
    cache = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=parent))
    for name in KEEP_COLD:
        if (base / name).exists():
            (cache / name).symlink_to(base / name)
    return cache


def one_round(targets: list[str], cache_of: Callable[[], Path], work: Path) -> tuple[float, float]:
    sequential = 0.0
    cache = cache_of()
    for target in targets:
        sequential += invoke(
            ["build", "--target", target, "--out", str(work / "dist")], cache, work
        )
    cache = cache_of()
    parallel = invoke(
        ["release", "--targets", ",".join(targets), "--out", str(work / "release")], cache, work
    )
    return sequential, parallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="x86/64,armsr/armv8")
    parser.add_argument("--warm-only", action="store_true")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    base = Path(os.environ.get("KMODKIT_CACHE") or Path.home() / ".cache/kmodkit")
    workers = min(len(targets), os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        work = Path(tmp)
        print(f"preparing: one release of {args.targets} into {base} (compiles what it lacks)")
        invoke(["release", "--targets", args.targets, "--out", str(work / "prep")], base, work)
        rows = [("warm", *one_round(targets, lambda: base, work))]
        if not args.warm_only:
            rows.append(("cold", *one_round(targets, lambda: fresh_cache(base, work), work)))
    print(f"\n{len(targets)} targets ({args.targets}), {workers} parallel pairs")
    print(
        f"{'':6} {'N x invoke build':>17} {'invoke release':>15} {'speedup':>8} {'efficiency':>11}"
    )
    for mode, sequential, parallel in rows:
        speedup = sequential / parallel
        print(
            f"{mode:6} {sequential:15.1f} s {parallel:13.1f} s {speedup:7.2f}x "
            f"{speedup / workers:10.0%}"
        )


if __name__ == "__main__":
    main()
