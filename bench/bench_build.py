"""Benchmark: the second identical `build()` (every module and package cached), per stage.

The issue's goal: toolkit overhead < 1 s once everything is cached. This runs one warm-up
build (it compiles whatever the cache lacks, which can take minutes the first time), then
times the same build again in-process, split at the pipeline's own progress messages:

  setup         catalog, open tree, resolve, keys (open tree and resolve also timed alone)
  modules       obtain_modules (cache hits) + reading the .ko files + the modinfo depends pass
  packing       ipk/apk packing (pack cache hits) + generated feed/Kconfig files
  feeds         Packages/packages.adb indexes, usign/apk signatures, keys, build report
  verify        verify_paths over the result, then the atomic rename into place

Per-process memos (read_modinfo, Depends parsing) are cleared before the timed build, so it
costs what a fresh `invoke build` process would, minus interpreter start-up and imports
(shown separately). References measured in the same run: `python -c pass` and
`tar cf - <output> | sha256sum`.
Run: python bench/bench_build.py [--target x86_64] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kmodkit.catalog import load_catalog, lookup_target
from kmodkit.kernel import modinfo, open_tree
from kmodkit.kernel.kbuild import ModuleRequest, obtain_modules
from kmodkit.pipeline.build import BuildOptions, build
from kmodkit.resolve import resolve_closure
from kmodkit.verify import managers

STAGES = (
    ("setup", None),
    ("modules", "obtaining modules"),
    ("packing", "packing"),
    ("feeds", "indexing and signing"),
    ("verify", "verifying"),
)


def clear_memos() -> None:
    modinfo._memo.clear()
    managers._DEPENDS.clear()


def timed_build(options: BuildOptions) -> tuple[float, dict[str, float]]:
    """Total seconds and seconds per stage, split where the pipeline reports progress."""
    marks: list[tuple[str, float]] = []
    starts = {message: name for name, message in STAGES if message}

    def progress(message: str) -> None:
        if message in starts:
            marks.append((starts[message], time.perf_counter()))

    clear_memos()
    start = time.perf_counter()
    build(options, progress=progress)
    end = time.perf_counter()
    bounds = [("setup", start), *marks, ("end", end)]
    stages = {name: bounds[i + 1][1] - at for i, (name, at) in enumerate(bounds[:-1])}
    return end - start, stages


def best(seconds: list[float]) -> float:
    return min(seconds)


def time_command(command: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return best(times)


def stage_details(target: str, runs: int) -> dict[str, float]:
    """open tree, resolve and obtain_modules alone (each already warm)."""
    catalog = load_catalog(())
    out: dict[str, list[float]] = {"open tree": [], "resolve": [], "obtain_modules": []}
    for _ in range(runs):
        start = time.perf_counter()
        tree = open_tree(sdk=None, kernel_dir=None, provision=False)
        out["open tree"].append(time.perf_counter() - start)
        from kmodkit.pipeline.build import release_for_tree

        release = release_for_tree(tree)
        start = time.perf_counter()
        closure = resolve_closure(
            catalog,
            ["kmod-nft-offload"],
            release=release,
            target=lookup_target(target),
            kernel_version=tree.version,
            kernel_config=tree.config,
            builtin_modules=tree.builtin_modules,
        )
        out["resolve"].append(time.perf_counter() - start)
        requests = [
            ModuleRequest(p.name, f.path, f.optional) for p in closure.packages for f in p.files
        ]
        with tempfile.TemporaryDirectory() as logs:
            start = time.perf_counter()
            obtain_modules(tree, requests, jobs=None, log_dir=Path(logs))
            out["obtain_modules"].append(time.perf_counter() - start)
    return {name: best(values) for name, values in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="x86_64")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        out = Path(tmp) / "dist"
        options = BuildOptions(target=args.target, out=out)
        print("warm-up build (compiles what the cache lacks) ...", flush=True)
        start = time.perf_counter()
        build(options)
        print(f"warm-up: {time.perf_counter() - start:.2f} s")

        totals: list[float] = []
        per_stage: dict[str, list[float]] = {}
        for _ in range(args.runs):
            total, stages = timed_build(options)
            totals.append(total)
            for name, seconds in stages.items():
                per_stage.setdefault(name, []).append(seconds)
        details = stage_details(args.target, args.runs)

        python_start = time_command(f"{sys.executable} -c pass", 5)
        imports = time_command(f"{sys.executable} -c 'import kmodkit.pipeline.build'", 3)
        output_hash = time_command(f"tar cf - -C {out} . | sha256sum", 3)

    stage_best = {name: best(values) for name, values in per_stage.items()}
    total = best(totals)
    verify = stage_best.get("verify", 0.0)
    print(f"\nsecond identical build, best of {args.runs} (memos cleared before each):")
    for name, _ in STAGES:
        print(f"  {name:<10} {stage_best.get(name, 0.0):7.3f} s")
    for name, seconds in details.items():
        print(f"    ({name} alone: {seconds:.3f} s)")
    print(f"  {'total':<10} {total:7.3f} s")
    print("\nreferences (same run):")
    print(f"  python -c pass                       {python_start:.3f} s")
    print(f"  python -c 'import kmodkit...pipeline' {imports:.3f} s (start-up + imports)")
    print(f"  tar cf - dist | sha256sum            {output_hash:.3f} s")
    without = total - verify
    for label, seconds in (("excluding verify", without), ("including verify", total)):
        verdict = "within" if seconds < 1 else "OVER"
        print(
            f"toolkit overhead {label}: {seconds:.3f} s  "
            f"= {seconds / python_start:.1f}x python start-up, "
            f"{seconds / output_hash:.1f}x hashing the output  ({verdict} the 1 s goal)"
        )


if __name__ == "__main__":
    main()
