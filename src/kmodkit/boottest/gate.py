"""``invoke build --boottest``: the boot test as the last gate before a feed is published.

It runs on the build's (or ``invoke release``'s) temporary directory, after verify; a failed
check raises BuildError, so the feed is never renamed into place. The full report is kept
with the logs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kmodkit.boottest.runner import BootOptions, BootReport, run_boottest
from kmodkit.errors import BuildError
from kmodkit.fsutil import atomic_write_text
from kmodkit.verify.report import to_json


def boottest_gate(
    work: Path,
    *,
    label: str | None,
    logs: Path,
    progress: Callable[[str], None] | None = None,
) -> BootReport:
    """Boot-test every feed in ``work``: the report, or BuildError naming the first failure.

    ``label`` names a single target (a build); without it each target is named by its path
    below ``work`` (a release tree).
    """
    result = run_boottest(BootOptions(path=work, label=label), progress)
    report_path = logs / "boottest.json"
    atomic_write_text(report_path, to_json(result.report))
    if not result.report.ok():
        failures = result.report.failures()
        raise BuildError(
            f"boot test failed ({len(failures)} checks): {failures[0].one_line()}",
            log=str(report_path),
        )
    return result


def gate_summary(result: BootReport) -> str:
    runs = "; ".join(f"{r.label} under {r.accel.upper()} in {r.seconds:.1f} s" for r in result.runs)
    return f"{result.report.passed} passed, 0 failed ({runs})"
