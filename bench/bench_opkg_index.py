"""Decode a 5,000-package Packages file (goal < 0.3 s) and build an index from real ipks.

Run: ``python bench/bench_opkg_index.py``. The reference measured in the same run is the bare
minimum any parser pays (UTF-8 decode, split into lines, split each line at ':'), so the ratio
shows what stanza handling, continuations and error checks cost on top of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kmodkit.formats.control import read_control
from kmodkit.formats.ipk import ipk_filename, pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import build_feed_index, parse_packages

PACKAGES = 5000
RUNS = 5
STANZA = (
    "Package: kmod-bench-{i}\nVersion: 6.6.93-r1\n"
    "Depends: kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1), kmod-nf-flow, kmod-nft-nat\n"
    "Provides: kmod-bench-any\nLicense: GPL-2.0\nSection: kernel\nArchitecture: x86_64\n"
    "Installed-Size: 20480\nFilename: kmod-bench-{i}_6.6.93-r1_x86_64.ipk\nSize: 6789\n"
    "SHA256sum: {sha}\nDescription:  Benchmark module {i}\n with a second description line\n\n"
)


def best_of(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def baseline(data: bytes) -> int:
    count = 0
    for line in data.decode("utf-8").split("\n"):
        if line and line[0] != " ":
            line.partition(":")
            count += 1
    return count


def main() -> None:
    data = "".join(STANZA.format(i=i, sha=f"{i:064x}") for i in range(PACKAGES)).encode()
    assert len(parse_packages(data, "Packages")) == PACKAGES
    ours = best_of(lambda: parse_packages(data, "Packages"))
    ref = best_of(lambda: baseline(data))
    print(f"Packages: {PACKAGES} stanzas, {len(data) / 1e6:.2f} MB")
    verdict = "OK" if ours < 0.3 else "SLOW"
    print(f"parse_packages        : {ours * 1000:7.1f} ms (goal < 300 ms) {verdict}")
    print(f"decode+split baseline : {ref * 1000:7.1f} ms")
    print(f"ratio: {ours / ref:.2f}")

    # one field of 2M continuation lines (issue 10: a quadratic join took 95 s on these)
    long_text = "Package: a\nDescription:  x\n" + " continuation line\n" * 2_000_000
    long_ours = best_of(lambda: read_control(long_text, "control"))
    long_ref = best_of(lambda: long_text.split("\n"))
    print(f"read_control, 2M continuation lines: {long_ours * 1000:7.1f} ms")
    print(f"split into lines baseline          : {long_ref * 1000:7.1f} ms")
    print(f"ratio: {long_ours / long_ref:.2f}")

    ipks = []
    for i in range(200):
        meta = PackageMeta(f"kmod-bench-{i}", "6.6.93-r1", "x86_64", f"Benchmark module {i}")
        entry = Entry(f"lib/modules/6.6.93/bench_{i}.ko", data=bytes(4096) + str(i).encode())
        blob = pack_ipk(PackageInput(meta, (entry,)), source_date_epoch=1735689600)
        ipks.append((ipk_filename(meta), blob))
    index_time = best_of(lambda: build_feed_index(ipks))
    print(f"build_feed_index (200 ipks): {index_time * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
