"""Pack a 20 MB, 200-file tree as an ipk vs ``tar --sort=name ... | gzip -n`` (goal: ratio <= 1.1).

Run: ``python bench/bench_pack_ipk.py``. Every side reads the tree from disk; the sides run
interleaved, round after round, and each keeps its best time, so load from other processes
hits them alike. Two references are timed in the same run: the single ``tar | gzip -n`` of the
goal, and ipkg-build's real pipeline (data ``tar | gzip -n``, then the outer ``tar | gzip -n``
over the already compressed data.tar.gz), which does the two-layer work an ipk needs. Our
packer is also timed on one thread (``max_workers=1``): same bytes, no parallel deflate.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kmodkit.formats.ipk import pack_ipk, read_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta

FILES = 200
FILE_SIZE = 100 * 1024
EPOCH = 1735689600
RUNS = 5


def make_tree(root: Path) -> None:
    rng = random.Random(1)
    words = [rng.randbytes(rng.randint(2, 12)) for _ in range(4000)]
    for i in range(FILES):
        chunks: list[bytes] = []
        size = 0
        while size < FILE_SIZE:
            chunk = rng.choice(words) if rng.random() < 0.8 else rng.randbytes(8)
            chunks.append(chunk)
            size += len(chunk)
        path = root / "lib" / "modules" / "6.6.93" / f"sub{i % 10}" / f"mod_{i:03d}.ko"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(chunks)[:FILE_SIZE])


def pack_tree(root: Path, max_workers: int | None = None) -> bytes:
    entries = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            entries.append(
                Entry(path.relative_to(root).as_posix(), "file", 0o644, path.read_bytes())
            )
    meta = PackageMeta("kmod-bench", "6.6.93-r1", "x86_64", "benchmark payload")
    return pack_ipk(
        PackageInput(meta, tuple(entries)), source_date_epoch=EPOCH, max_workers=max_workers
    )


def reference(root: Path) -> bytes:
    command = (
        f"tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime=@{EPOCH} "
        f"-C {root} -cf - . | gzip -n"
    )
    return subprocess.run(["sh", "-c", command], capture_output=True, check=True).stdout


def ipkg_build_pipeline(root: Path) -> bytes:
    tar = f"tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime=@{EPOCH}"
    with tempfile.TemporaryDirectory() as tmp:
        command = (
            f"{tar} -C {root} -cf - . | gzip -n > {tmp}/data.tar.gz && "
            f"printf '2.0\\n' > {tmp}/debian-binary && "
            f"{tar} -C {tmp} -cf - ./debian-binary ./data.tar.gz | gzip -n"
        )
        return subprocess.run(["sh", "-c", command], capture_output=True, check=True).stdout


def best_times(sides: dict[str, Callable[[Path], bytes]], root: Path) -> dict[str, float]:
    """Best of RUNS per side, the sides interleaved within each round."""
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(RUNS):
        for label, fn in sides.items():
            start = time.perf_counter()
            fn(root)
            best[label] = min(best[label], time.perf_counter() - start)
    return best


def main() -> None:
    sides: dict[str, Callable[[Path], bytes]] = {
        "kmodkit pack_ipk": pack_tree,
        "kmodkit pack_ipk, 1 thread": lambda root: pack_tree(root, max_workers=1),
        "tar --sort=name | gzip -n": reference,
        "ipkg-build's two layers": ipkg_build_pipeline,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        make_tree(root)
        sizes = {label: len(fn(root)) for label, fn in sides.items()}
        ours = pack_tree(root)
        if pack_tree(root, max_workers=1) != ours:
            raise SystemExit("pack_ipk bytes depend on the worker count")
        if len(read_ipk(ours).entries) < FILES:
            raise SystemExit("pack_ipk output does not read back")
        best = best_times(sides, root)
    print(f"tree: {FILES} files, {FILES * FILE_SIZE / 1e6:.1f} MB, {os.cpu_count()} CPUs, ", end="")
    print(f"best of {RUNS}")
    for label, seconds in best.items():
        print(f"{label:28}: {seconds * 1000:8.1f} ms  ({sizes[label]} bytes)")
    ratios = {
        "tar | gzip -n (goal)": best["kmodkit pack_ipk"] / best["tar --sort=name | gzip -n"],
        "ipkg-build two layers": best["kmodkit pack_ipk"] / best["ipkg-build's two layers"],
    }
    for label, ratio in ratios.items():
        verdict = "met" if ratio <= 1.1 else "NOT met"
        print(f"ratio vs {label:22}: {ratio:.2f} (goal <= 1.10: {verdict})")
    single = best["kmodkit pack_ipk, 1 thread"] / best["tar --sort=name | gzip -n"]
    print(f"1-thread ratio vs tar | gzip -n : {single:.2f} (informative)")


if __name__ == "__main__":
    main()
