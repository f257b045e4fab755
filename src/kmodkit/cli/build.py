"""`invoke build`: options -> BuildOptions, a live status line, and the summary table."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

from rich.table import Table

from kmodkit.cli import check_writable_dir, stdout_console
from kmodkit.errors import UsageError
from kmodkit.pipeline.build import BuildOptions, BuildResult, preflight
from kmodkit.pipeline.build import build as run_build
from kmodkit.pipeline.packing import PackageFormat

console = stdout_console()


def parse_formats(fmt: str | None) -> tuple[PackageFormat, ...] | None:
    if fmt is None:
        return None
    if fmt == "both":
        return ("ipk", "apk")
    if fmt in ("ipk", "apk"):
        return (cast(PackageFormat, fmt),)
    raise UsageError(f"--format must be ipk, apk or both, not {fmt!r}")


def parse_jobs(jobs: str | int | None) -> int | None:
    """``--jobs``: a positive integer, or None for the number of cores."""
    if jobs is None or jobs == "":
        return None
    text = str(jobs).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UsageError(f"--jobs must be a positive integer, not {str(jobs)!r}")
    return int(text)


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal; elsewhere (CI logs, pipes) one line per stage with the time
    since the start, so a log shows where a cold build spends its time."""
    if console.is_terminal:
        with console.status("building", spinner="dots") as status:
            yield lambda msg: status.update(msg)
        return
    start = time.monotonic()

    def line(msg: str) -> None:
        console.print(f"[{time.monotonic() - start:7.1f}s] {msg}", markup=False, highlight=False)

    line("building")
    yield line


def _summary(result: BuildResult) -> Table:
    table = Table(title=f"kmods for {result.target.name} on {result.tree.release}")
    table.add_column("package", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("modules", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("status")
    for pkg in result.packages:
        status = pkg.status + (" (reused)" if pkg.reused else "")
        if pkg.added_depends:
            status += f", +depends {' '.join(pkg.added_depends)}"
        table.add_row(
            pkg.name,
            pkg.version,
            " ".join(m.removesuffix(".ko") for m in pkg.modules) or "-",
            f"{pkg.size:,}",
            status,
        )
    return table


def build(
    *,
    target: str,
    release: str | None,
    sdk: str | None,
    kernel_dir: str | None,
    fmt: str | None,
    engine: str,
    out: str,
    key: str | None,
    apk_key: str | None,
    jobs: str | int | None,
    package: str,
    feeds: list[str],
    check_reproducible: bool,
    mirrors: list[str] | None = None,
    sdk_keys: str | None = None,
    offline: bool = False,
    allow_kernel_mismatch: bool = False,
    boottest: bool = False,
) -> int:
    jobs_count = parse_jobs(jobs)
    check_writable_dir(Path(out), f"--out {out}")
    options = BuildOptions(
        target=target,
        release=release,
        allow_kernel_mismatch=allow_kernel_mismatch,
        sdk=Path(sdk) if sdk else None,
        kernel_dir=Path(kernel_dir) if kernel_dir else None,
        formats=parse_formats(fmt),
        engine=engine,
        out=Path(out),
        usign_key=Path(key) if key else None,
        apk_key=Path(apk_key) if apk_key else None,
        jobs=jobs_count,
        packages=tuple(p for p in package.replace(",", " ").split() if p),
        feeds=tuple(Path(f) for f in feeds),
        boottest=boottest,
    )
    if release and not sdk and not kernel_dir:
        # A release without a tree means that release's SDK: cached, else fetched and verified.
        from kmodkit.cli.sdk import fetcher

        preflight(options)  # bad options fail before anything is downloaded
        fetched, exact = fetcher(list(mirrors or []), sdk_keys, offline)(release, target)
        options = replace(options, sdk=fetched, release=exact)
    with _progress() as say:
        result = run_build(options, progress=say)
        if check_reproducible:
            from kmodkit.pipeline.reproduce import check_reproducible as rebuild_twice

            say("rebuilding twice to compare")
            differences = rebuild_twice(replace(options, boottest=False), progress=say)
        say("done")
    console.print(_summary(result))
    if result.keys.generated:
        console.print(f"generated local build keys: usign {result.keys.usign_key_id}")
    console.print(
        f"modules: {result.compiled} compiled, {result.reused_modules} reused; "
        f"packages repacked: {result.repacked}; signed with usign key {result.keys.usign_key_id}"
    )
    console.print(
        f"verify: {result.verify_summary} (strict, against the kernel tree, release "
        f"{result.release.name} and the signing keys; a standalone verify without --kernel-dir, "
        "--release and --keys runs fewer checks and says which)"
    )
    if result.boottest is not None:
        from kmodkit.boottest.gate import gate_summary

        console.print(f"boottest: {gate_summary(result.boottest)}")
    console.print(f"feed: {result.out_dir}")
    if check_reproducible:
        if differences:
            for diff in differences:
                console.print(f"[red]not reproducible:[/] {diff.path}: {diff.kind} {diff.detail}")
            return 1
        console.print("reproducible: two rebuilds are byte-identical")
    return 0
