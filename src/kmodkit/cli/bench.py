"""`invoke bench`: run every bench/ script and print one table of their ratios.

Each script times kmodkit against a reference in the same run and prints its own ratio
lines; this runner keeps those lines (the ones naming a ratio, a speedup, an ``Nx`` factor or
an efficiency) so one table shows every comparison. A failing script is a row, not a stop.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from kmodkit.cli import stdout_console
from kmodkit.errors import UsageError

_RATIO_LINE = re.compile(r"ratio|speedup|efficien|\d(?:\.\d+)?x\b", re.IGNORECASE)


@dataclass(frozen=True)
class BenchRun:
    script: str
    returncode: int
    seconds: float
    ratios: tuple[str, ...]
    tail: str = ""


def ratio_lines(output: str) -> tuple[str, ...]:
    """The lines of a bench script's output that state a comparison."""
    return tuple(" ".join(line.split()) for line in output.splitlines() if _RATIO_LINE.search(line))


def find_bench_dir(given: str | None) -> Path:
    candidates = [Path(given)] if given else [Path.cwd() / "bench"]
    candidates.append(Path(__file__).resolve().parents[3] / "bench")  # a source checkout
    for path in candidates:
        if path.is_dir() and any(path.glob("bench_*.py")):
            return path
    raise UsageError(f"no bench_*.py scripts in {candidates[0]} (run from the checkout or --dir)")


def run_script(path: Path, timeout: float) -> BenchRun:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(
                None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
            )
        ),
    }
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return BenchRun(path.name, -1, time.perf_counter() - start, (), f"timed out ({timeout} s)")
    tail = (proc.stderr.strip().splitlines() or [""])[-1]
    return BenchRun(
        path.name, proc.returncode, time.perf_counter() - start, ratio_lines(proc.stdout), tail
    )


def bench(*, directory: str | None, only: list[str], timeout: float) -> int:
    root = find_bench_dir(directory)
    scripts = sorted(root.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only or s.stem in only]
        if not scripts:
            raise UsageError(f"no bench script named {', '.join(only)} in {root}")
    console = stdout_console()
    runs = []
    for script in scripts:
        with console.status(f"running {script.name}"):
            runs.append(run_script(script, timeout))
    table = Table(title=f"benchmarks ({root})")
    table.add_column("script", no_wrap=True)
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("ratios (kmodkit vs its reference, same run)", overflow="fold")
    for run in runs:
        result = "ok" if run.returncode == 0 else f"[red]FAILED[/] ({run.tail or run.returncode})"
        table.add_row(run.script, result, f"{run.seconds:.1f}", "\n".join(run.ratios) or "-")
    console.print(table)
    return 1 if any(r.returncode != 0 for r in runs) else 0
