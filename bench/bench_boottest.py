"""Benchmark: `invoke boottest` on the x86_64 distro feed, against a bare boot of the same kernel.

The issue's goal: under 30 s per boot. One warm-up build provides the feed (compiling what the
cache lacks, which can take minutes the first time); then, per run, in the same process:

  reference    the same kernel and accelerator booting a busybox-only initramfs whose /init
               powers off at once (what any boot costs: firmware, kernel, unpacking)
  boottest     run_boottest on the feed: identity checks, initramfs, boot, 29 modules, the
               namespaces, the control and the offload transfers, results

and prints the boot test time per target, the ratio to the bare boot, and where the guest
spent its time (from the /init's uptime stamps). KVM is used when it works (see qemu.py).
Run: python bench/bench_boottest.py [--runs 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kmodkit.boottest import BootOptions, qemu, run_boottest
from kmodkit.boottest.feed import read_feed
from kmodkit.boottest.initramfs import Initramfs, build_initramfs
from kmodkit.boottest.runner import feed_release, kernel_for
from kmodkit.boottest.userland import host_tool
from kmodkit.pipeline.build import BuildOptions, build

BARE_INIT = b"#!/bin/busybox sh\necho '@@KMK start'\n/bin/busybox poweroff -f\n"


def bare_boot(kernel: Path, work: Path) -> tuple[float, str]:
    image = Initramfs()
    image.file("bin/busybox", host_tool("busybox").read_bytes(), 0o755)
    image.chardev("dev/console", 5, 1)
    image.file("init", BARE_INIT, 0o755)
    initrd = work / "bare.cpio.gz"
    initrd.write_bytes(build_initramfs(image))
    run = qemu.boot("x86_64", kernel, initrd, work / "bare.log", timeout=300)
    return run.seconds, run.accel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-boottest-") as tmp:
        work = Path(tmp)
        feed_dir = build(BuildOptions(target="x86_64", out=work / "dist")).out_dir
        feed = read_feed(feed_dir)
        image = kernel_for(feed, feed_release(feed), BootOptions(path=feed_dir), lambda _m: None)
        for run in range(args.runs):
            bare, accel = bare_boot(image.image, work)
            start = time.perf_counter()
            result = run_boottest(BootOptions(path=feed_dir))
            total = time.perf_counter() - start
            (target,) = result.runs
            t = target.guest_times
            ok = "all checks passed" if result.report.ok() else f"{result.report.failed} FAILED"
            print(f"run {run + 1}: {target.label} ({image.release}, {accel.upper()}): {ok}")
            print(
                f"  boot test {total:.1f} s (guest {target.seconds:.1f} s) vs bare boot "
                f"{bare:.1f} s: ratio {total / bare:.2f}  [goal: boot test < 30 s]"
            )
            if {"init", "modules", "net", "control", "offload", "end"} <= set(t):
                print(
                    "  in the guest: kernel to /init {:.1f} s, modules {:.1f} s, namespaces "
                    "{:.1f} s, control {:.1f} s, offload {:.1f} s".format(
                        t["init"],
                        t["modules"] - t["init"],
                        t["net"] - t["modules"],
                        t["control"] - t["net"],
                        t["offload"] - t["control"],
                    )
                )


if __name__ == "__main__":
    main()
