"""The bounded-resources goal, enforced: every crafted input under 10 MB is verified or rejected
by ``invoke verify``'s CLI in a process the kernel limits to 512 MiB of address space.

Each case runs in a child with RLIMIT_AS = 512 MiB (a MemoryError there fails the case: the
CLI edge reports it as "out of memory") and must end with verify's own exit codes (0/1/2),
without a traceback or internal error, its output naming the limit or cause. A 60 s hang
guard only stops a child that never ends (FIFO reads did); no duration is asserted
(bench/bench_hostile_inputs.py measures the 10 s goal).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hostile_inputs import TEN_MB, run_case, write_cases


def test_every_hostile_input_is_verified_or_rejected_within_512_mib(tmp_path: Path) -> None:
    cases = write_cases(tmp_path)
    assert len(cases) >= 15
    for case in cases:
        for path in case.paths + case.index:
            p = Path(path)
            assert not p.is_file() or p.stat().st_size < TEN_MB, path
    with ThreadPoolExecutor(2) as pool:  # each child has its own limit: safe side by side
        outcomes = list(pool.map(run_case, cases))
    problems = []
    for case, outcome in zip(cases, outcomes, strict=True):
        text = outcome.output
        if outcome.returncode is None:
            problems.append(f"{case.name}: still running after the hang guard")
        elif outcome.returncode not in (0, 1, 2):
            problems.append(f"{case.name}: exit {outcome.returncode}: {text[-300:]!r}")
        elif any(w in text for w in ("Traceback", "MemoryError", "out of memory", "internal")):
            problems.append(f"{case.name}: {text[-600:]!r}")
        elif case.expect not in text:
            problems.append(f"{case.name}: {case.expect!r} not in {text[-600:]!r}")
    assert not problems, "\n".join(problems)
