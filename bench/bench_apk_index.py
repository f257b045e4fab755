"""Benchmark: decode a 5,000-package apk v3 packages.adb (target < 0.3 s).

References measured in the same run: a plain zlib inflate of the file, and json.loads of a JSON
document holding the same package fields. Run: python bench/bench_apk_index.py
"""

from __future__ import annotations

import json
import time
import zlib

from kmodkit.formats import apk_schema
from kmodkit.formats.apk import pack_apk
from kmodkit.formats.apk_index import build_index, read_index
from kmodkit.formats.model import Entry, PackageInput, PackageMeta

N = 5000


def make_feed() -> bytes:
    apks = []
    for i in range(N):
        meta = PackageMeta(
            name=f"kmod-bench-{i:05d}",
            version=f"6.6.{i % 100}-r{i % 7}",
            arch="x86_64",
            description=f"Benchmark kernel module number {i}",
            depends=(
                "kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1)",
                f"kmod-bench-{i // 2:05d}",
            ),
            provides=(f"kmod-bench-{i:05d}-any",),
            source="feeds/base/kernel/linux",
        )
        entries = (
            Entry(f"lib/modules/6.6.93/bench{i}.ko", "file", 0o644, b"\x7fELF" + bytes(i % 50)),
        )
        apks.append(
            (f"kmod-bench-{i:05d}.apk", pack_apk(PackageInput(meta, entries), source_date_epoch=0))
        )
    return build_index(apks)


def best_of(fn: object, runs: int = 5) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    data = make_feed()
    index = read_index(data)
    assert len(index.packages) == N
    doc = json.dumps([apk_schema.to_plain(apk_schema.PKGINFO, p.info) for p in index.packages])
    t_decode = best_of(lambda: read_index(data))
    t_inflate = best_of(lambda: zlib.decompressobj(-15).decompress(data[4:]))
    t_json = best_of(lambda: json.loads(doc))
    print(f"packages.adb: {len(data)} bytes, {N} packages")
    verdict = "OK" if t_decode < 0.3 else "SLOW"
    print(f"read_index:   {t_decode * 1000:8.1f} ms  (target < 300 ms: {verdict})")
    print(f"zlib inflate: {t_inflate * 1000:8.1f} ms  ratio {t_decode / t_inflate:6.1f}x")
    print(f"json.loads:   {t_json * 1000:8.1f} ms  ratio {t_decode / t_json:6.1f}x ({len(doc)} B)")


if __name__ == "__main__":
    main()
