"""``invoke boottest``: boot the feed's kernel under QEMU, print the table, write reports.

Exit status as ``invoke verify``: 0 every check passed, 1 a check failed, 2 bad input (no feed,
unreadable ruleset, kernel image not obtainable), with one line naming the cause.
``--release R`` boots the official OpenWrt image of R for ``--target`` instead.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kmodkit.boottest import BootOptions, run_boottest
from kmodkit.boottest.image_boot import ImageBootOptions, run_image_boottest
from kmodkit.boottest.runner import BootReport
from kmodkit.catalog import lookup_target
from kmodkit.cli import stdout_console
from kmodkit.cli.verify import emit
from kmodkit.errors import UsageError
from kmodkit.sdk import FetchOptions

TITLE = "kmodkit boottest"


def last_build(target: str, dist: Path = Path("dist")) -> Path:
    """The newest ``invoke build`` output for ``target`` under ``dist/`` (by build-report)."""
    wanted = lookup_target(target)
    reports = [
        p
        for p in dist.glob(f"*/{wanted.board}/{wanted.subtarget}/build-report.json")
        if p.is_file()
    ]
    if not reports:
        raise UsageError(
            f"no build for {wanted.name} under {dist}/; run `invoke build --target {target}` "
            "or give the feed directory"
        )
    return max(reports, key=lambda p: p.stat().st_mtime).parent


def boottest(
    *,
    paths: list[str],
    target: str,
    kernel_image: str | None,
    timeout: float,
    keep_logs: str | None,
    json_out: str | None,
    junit_out: str | None,
    ruleset: str | None,
    release: str | None = None,
) -> int:
    if timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    console = stdout_console()
    inputs = [Path(p) for p in paths] or [last_build(target)]
    status = 0
    for path in inputs:
        if release:
            result = _image_boottest(path, release, target, timeout, keep_logs, ruleset, console)
            status = max(status, _emit(result, json_out, junit_out, console))
            continue
        options = BootOptions(
            path=path,
            kernel_image=Path(kernel_image) if kernel_image else None,
            timeout=timeout,
            keep_logs=Path(keep_logs) if keep_logs else None,
            ruleset=Path(ruleset) if ruleset else None,
        )
        with console.status(f"boot test of {path}", spinner="dots") as spinner:
            result = run_boottest(options, progress=lambda msg: spinner.update(msg))
        status = max(status, _emit(result, json_out, junit_out, console))
    return status


def _image_boottest(
    path: Path,
    release: str,
    target: str,
    timeout: float,
    keep_logs: str | None,
    ruleset: str | None,
    console: Console,
) -> BootReport:
    """``--release R``: the official OpenWrt image of R for ``--target``, the feed installed."""
    options = ImageBootOptions(
        path=path,
        fetch=FetchOptions(release=release, target=target),
        timeout=timeout,
        keep_logs=Path(keep_logs) if keep_logs else None,
        ruleset=Path(ruleset) if ruleset else None,
    )
    with console.status(f"boot test of {path} on OpenWrt {release}", spinner="dots") as spinner:
        return run_image_boottest(options, progress=lambda msg: spinner.update(msg))


def _emit(result: BootReport, json_out: str | None, junit_out: str | None, console: Console) -> int:
    status = emit(
        result.report,
        strict=False,
        json_out=json_out,
        junit_out=junit_out,
        console=console,
        title=TITLE,
        verbose=True,  # what loaded and what the guest saw is the point of a boot test
    )
    for run in result.runs:
        if run.serial_log:
            console.print(f"serial log: {run.serial_log}", markup=False, soft_wrap=True)
    return status
