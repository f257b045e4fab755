"""``invoke verify``: print the table and summary, write --json/--junit, return the status.

Exit status: 0 all checks pass, 1 a check failed (or a warning under --strict), 2 an input
could not be read (the message names it and says why).
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from kmodkit.cli import check_writable_dir, stdout_console
from kmodkit.errors import UsageError
from kmodkit.fsutil import atomic_write_text
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.model import Findings, VerifyReport
from kmodkit.verify.rebuild import differences_to_findings
from kmodkit.verify.report import (
    github_annotations,
    render_table,
    summary_lines,
    to_json,
    to_junit,
)


def verify(
    *,
    paths: list[str],
    index: list[str],
    kernel_dir: str | None,
    sdk: str | None,
    release: str | None,
    target: str | None,
    keys: str | None,
    json_out: str | None,
    junit_out: str | None,
    strict: bool,
    rebuild: bool,
) -> int:
    if kernel_dir and sdk:
        raise UsageError("give either --kernel-dir or --sdk, not both")
    for option, report_path in (("--json", json_out), ("--junit", junit_out)):
        if report_path:
            check_writable_dir(Path(report_path).parent, f"{option} {report_path}")
    options = VerifyOptions(
        index=tuple(index),
        kernel_dir=Path(kernel_dir) if kernel_dir else None,
        sdk=Path(sdk) if sdk else None,
        release=release,
        target=target,
        keys=Path(keys) if keys else None,
    )
    if not paths:
        raise UsageError("nothing to verify: give .ipk/.apk files, feed dirs or a dist tree")
    report = verify_paths([Path(p) for p in paths], options=options)
    report.notes.extend(reference_notes(options))
    if rebuild:
        rebuilt = _rebuild_report(options)
        report = VerifyReport(results=[*report.results, *rebuilt.results], notes=report.notes)
    return emit(report, strict=strict, json_out=json_out, junit_out=junit_out)


def reference_notes(options: VerifyOptions) -> list[str]:
    """Say which checks a missing reference leaves out, so counts differing from the build's
    own verify (which has the kernel tree, the release and the signing keys) are explained."""
    notes = []
    if options.kernel_dir is None and options.sdk is None:
        notes.append(
            "no --kernel-dir/--sdk: modules are checked against each other (kernel.consistency), "
            "not against a kernel (kernel.vermagic, as the build's own verify does)"
        )
    if options.release is None:
        notes.append("no --release: the release's version scheme (meta.release) is not checked")
    return notes


def _rebuild_report(options: VerifyOptions) -> VerifyReport:
    from kmodkit.pipeline.build import BuildOptions
    from kmodkit.pipeline.reproduce import check_reproducible

    diffs = check_reproducible(
        BuildOptions(
            target=options.target or "x86_64",
            release=options.release,
            sdk=options.sdk,
            kernel_dir=options.kernel_dir,
            allow_kernel_mismatch=True,  # rebuild what was built, whatever the series
        )
    )
    findings: Findings = differences_to_findings(diffs, "rebuild")
    return VerifyReport(results=findings.results())


def emit(
    report: VerifyReport,
    *,
    strict: bool,
    json_out: str | None,
    junit_out: str | None,
    console: Console | None = None,
    title: str = "kmodkit verify",
    verbose: bool = False,
) -> int:
    """Print and write the report; return the exit status."""
    out = console or stdout_console()
    for note in report.notes:
        out.print(f"note: {note}", markup=False, soft_wrap=True)
    if report.results:
        out.print(render_table(report, title=title, verbose=verbose))
    for error in report.input_errors:
        what = "cannot read" if error.check_id == "input.unreadable" else "refused"
        out.print(
            f"{what} {error.artifact}: {error.message}",
            markup=False,
            style="bold red",
            soft_wrap=True,
        )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            print(line, flush=True)
    if json_out:
        atomic_write_text(Path(json_out), to_json(report, strict=strict))
    if junit_out:
        atomic_write_text(Path(junit_out), to_junit(report, strict=strict, title=title))
    for line in summary_lines(report):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.input_errors:
        return 2
    return 0 if report.ok(strict) else 1
