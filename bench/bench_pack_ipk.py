"""Pack a 20 MB, 200-file tree as an ipk vs ``tar --sort=name ... | gzip -n`` (goal: ratio <= 1.1).

Run: ``python bench/bench_pack_ipk.py``. Both sides read the tree from disk; best of several runs
is kept. Two references are timed in the same run: the single ``tar | gzip -n`` of the brief,
and ipkg-build's real pipeline (data ``tar | gzip -n``, then the outer ``tar | gzip -n`` over
the already compressed data.tar.gz), which does the same two-layer work an ipk needs.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

from kmodkit.formats.ipk import pack_ipk
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


def pack_tree(root: Path) -> bytes:
    entries = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            entries.append(
                Entry(path.relative_to(root).as_posix(), "file", 0o644, path.read_bytes())
            )
    meta = PackageMeta("kmod-bench", "6.6.93-r1", "x86_64", "benchmark payload")
    return pack_ipk(PackageInput(meta, tuple(entries)), source_date_epoch=EPOCH)


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


def best_of(fn: object, root: Path) -> tuple[float, int]:
    assert callable(fn)
    times = []
    size = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        size = len(fn(root))
        times.append(time.perf_counter() - start)
    return min(times), size


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        make_tree(root)
        ours, ours_size = best_of(pack_tree, root)
        ref, ref_size = best_of(reference, root)
        full, full_size = best_of(ipkg_build_pipeline, root)
    print(f"tree: {FILES} files, {FILES * FILE_SIZE / 1e6:.1f} MB")
    print(f"kmodkit pack_ipk          : {ours * 1000:8.1f} ms  ({ours_size} bytes)")
    print(f"tar --sort=name | gzip -n : {ref * 1000:8.1f} ms  ({ref_size} bytes)")
    print(f"ipkg-build's two layers   : {full * 1000:8.1f} ms  ({full_size} bytes)")
    ratio = ours / ref
    verdict = "OK" if ratio <= 1.1 else "over goal (an ipk gzips twice)"
    print(f"ratio vs tar|gzip   : {ratio:.2f} (goal <= 1.10) {verdict}")
    print(f"ratio vs ipkg-build : {ours / full:.2f}")


if __name__ == "__main__":
    main()
