"""Benchmark: verify a signed opkg feed of N packages (default 5,000; target < 2 s).

Prints the verify time and its ratio to a reference measured in the same run: reading and
sha256-hashing every file of the feed once with hashlib (the floor any verifier pays).
Run: python bench/bench_verify_feed.py [N] [--modules]
(--modules gives every 10th package a real relocatable .ko built with gcc -c).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kmodkit.formats import usign
from kmodkit.formats.ipk import pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import write_opkg_feed
from kmodkit.verify import VerifyOptions, verify_paths

EPOCH = 1735689600
KDEP = "kernel (=6.6.93~" + "a" * 32 + "-r1)"
KO_SOURCE = (
    'static const char v[] __attribute__((section(".modinfo"), used)) = '
    '"vermagic=6.6.93 SMP mod_unload";\nint f(void) { return 0; }\n'
)


def build_module(tmp: Path) -> bytes:
    (tmp / "m.c").write_text(KO_SOURCE)
    subprocess.run(["gcc", "-c", "-o", str(tmp / "m.ko"), str(tmp / "m.c")], check=True)
    return (tmp / "m.ko").read_bytes()


def make_feed(root: Path, count: int, ko: bytes | None) -> tuple[Path, Path]:
    secret, public = usign.generate_keypair("bench")
    ipks = []
    for i in range(count):
        name = f"kmod-bench-{i:05d}"
        entries = [Entry("etc", "dir", 0o755), Entry(f"etc/{name}.conf", "file", 0o644, b"x" * 64)]
        if ko is not None and i % 10 == 0:
            entries += [
                Entry("lib", "dir", 0o755),
                Entry("lib/modules", "dir", 0o755),
                Entry("lib/modules/6.6.93", "dir", 0o755),
                Entry(f"lib/modules/6.6.93/bench{i}.ko", "file", 0o644, ko),
            ]
        # groups of ten: nine packages depend on their group's first (like kmods on a core)
        depends = (KDEP, f"kmod-bench-{i // 10 * 10:05d}") if i % 10 else (KDEP,)
        meta = PackageMeta(
            name, "6.6.93-r1", "x86_64", "bench", depends=depends, source_date_epoch=EPOCH
        )
        data = pack_ipk(PackageInput(meta, tuple(sorted(entries))), source_date_epoch=EPOCH)
        ipks.append((f"{name}_6.6.93-r1_x86_64.ipk", data))
    kernel = PackageMeta(
        "kernel", "6.6.93~" + "a" * 32 + "-r1", "x86_64", "kernel", source_date_epoch=EPOCH
    )
    ipks.append(
        (
            f"kernel_{kernel.version}_x86_64.ipk",
            pack_ipk(PackageInput(kernel, ()), source_date_epoch=EPOCH),
        )
    )
    feed = root / "feed"
    feed.mkdir()
    for fname, data in ipks:
        (feed / fname).write_bytes(data)
    write_opkg_feed(feed, ipks, secret)
    keys = root / "keys"
    keys.mkdir()
    (keys / public.key_id_hex).write_text(public.to_text())
    return feed, keys


def main() -> None:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "5000"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ko = build_module(root) if "--modules" in sys.argv else None
        feed, keys = make_feed(root, count, ko)

        reference = elapsed = float("inf")
        for _ in range(3):  # best of three: the machine may be busy with other work
            start = time.perf_counter()
            for path in sorted(feed.iterdir()):
                hashlib.sha256(path.read_bytes()).hexdigest()
            reference = min(reference, time.perf_counter() - start)

            start = time.perf_counter()
            report = verify_paths([feed], options=VerifyOptions(keys=keys, target="x86_64"))
            elapsed = min(elapsed, time.perf_counter() - start)

    print(
        f"packages: {count}  results: {len(report.results)}  "
        f"passed {report.passed}, failed {report.failed}, warnings {report.warnings}"
    )
    print(f"reference (read + sha256 every file, best of 3): {reference:.3f} s")
    print(
        f"verify (best of 3): {elapsed:.3f} s  ratio {elapsed / reference:.1f}x  "
        f"({'within' if elapsed < 2 else 'OVER'} the 2 s budget)"
    )


if __name__ == "__main__":
    main()
