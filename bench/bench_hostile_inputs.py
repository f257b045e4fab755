"""Benchmark: every crafted hostile input under 10 MB against the goal of 10 s and 512 MiB RSS.

Writes the inputs of tests/hostile_inputs.py (compression bombs in every layer, ADB blocks with
shared values, FIFOs and /dev/zero posing as packages, indexes and keys, big and many-member
packages), runs ``invoke verify``'s CLI on each in a child limited to 512 MiB of address space,
and prints its wall time and peak RSS next to the goal, plus the reference of the same run:
the child's start-up alone (verify on an empty directory). Nothing is asserted here;
tests/test_hostile_inputs.py enforces the memory bound and the exit codes.
Run: python bench/bench_hostile_inputs.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hostile_inputs import Case, run_case, write_cases

GOAL_SECONDS = 10.0
GOAL_RSS = 512 << 20


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty = root / "empty"
        empty.mkdir()
        base = run_case(Case("start-up (reference)", [str(empty)], ""))
        cases = write_cases(root / "cases")
        print(f"{'input':44} {'exit':>4} {'wall s':>7} {'/goal':>6} {'RSS MiB':>8} {'/goal':>6}")
        print(
            f"{'start-up only (reference)':44} {base.returncode!s:>4} {base.seconds:7.2f}"
            f" {'':>6} {base.max_rss / 2**20:8.0f}"
        )
        worst_time = worst_rss = 0.0
        for case in cases:
            out = run_case(case)
            time_ratio, rss_ratio = out.seconds / GOAL_SECONDS, out.max_rss / GOAL_RSS
            worst_time, worst_rss = max(worst_time, time_ratio), max(worst_rss, rss_ratio)
            ok = out.returncode in (0, 1, 2) and case.expect in out.output
            print(
                f"{case.name:44} {out.returncode!s:>4} {out.seconds:7.2f} {time_ratio:6.2f}"
                f" {out.max_rss / 2**20:8.0f} {rss_ratio:6.2f}{'' if ok else '  UNEXPECTED'}"
            )
        print(f"worst: {worst_time:.2f} of the 10 s goal, {worst_rss:.2f} of the 512 MiB goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
