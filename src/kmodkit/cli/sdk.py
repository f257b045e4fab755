"""`sdk.fetch`, `sdk.list`, `sdk.clean`: printing over kmodkit.sdk.

``sdk.fetch`` prints only the SDK path on stdout (so ``$(kmodkit sdk.fetch ...)`` works);
progress goes to stderr: a rich bar on a terminal, a plain line every few seconds otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from kmodkit.cli import stderr, stdout_console
from kmodkit.sdk import FetchOptions, fetch_sdk, list_sdks, sdk_for_release
from kmodkit.sdk import cache as sdk_cache
from kmodkit.sdk.download import ByteProgress

MIB = 1 << 20


class PlainProgress:
    """Periodic one-line progress for logs: every ``every`` seconds and at the end."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self.last = time.monotonic()

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self.last < self.every:
            return
        self.last = now
        if total:
            amount = f"{done / MIB:.1f} of {total / MIB:.1f} MiB ({100 * done // total}%)"
        else:
            amount = f"{done / MIB:.1f} MiB"
        self.console.print(f"downloading {name}: {amount}", markup=False, highlight=False)


@contextmanager
def byte_progress(console: Console = stderr) -> Iterator[ByteProgress]:
    """A progress callback: a rich bar on a terminal, plain periodic lines otherwise."""
    if not console.is_terminal:
        yield PlainProgress(console)
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    with bar:
        yield update


def say(message: str) -> None:
    stderr.print(message, markup=False, highlight=False)


def fetch_options(
    release: str, target: str, mirrors: list[str], keys: str | None, offline: bool
) -> FetchOptions:
    return FetchOptions(
        release=release,
        target=target,
        mirrors=tuple(mirrors),
        keys_dir=Path(keys) if keys else None,
        offline=offline,
    )


def fetch(*, release: str, target: str, mirrors: list[str], keys: str | None, offline: bool) -> int:
    options = fetch_options(release, target, mirrors, keys, offline)
    with byte_progress() as on_bytes:
        result = fetch_sdk(options, say=say, on_bytes=on_bytes)
    if not result.downloaded:
        say(f"using the cached SDK for {result.sdk.release} {result.sdk.target}")
    print(result.path)
    return 0


def fetcher(
    mirrors: list[str], keys: str | None, offline: bool
) -> Callable[[str, str], tuple[Path, str]]:
    """What ``invoke build --release R --target T`` calls: the SDK path and the release to
    build for (see ``sdk_for_release``)."""

    def get(release: str, target: str) -> tuple[Path, str]:
        with byte_progress() as on_bytes:
            options = fetch_options(release, target, mirrors, keys, offline)
            return sdk_for_release(options, say=say, on_bytes=on_bytes)

    return get


def list_(*, release: str | None, mirrors: list[str], offline: bool) -> int:
    out = stdout_console()
    listing = list_sdks(release, mirrors=tuple(mirrors), offline=offline)
    if offline:
        table = Table(title="cached SDKs")
        for column in ("release", "target", "kernel", "sha256", "path"):
            table.add_column(column, overflow="fold")
        for sdk in listing.cached:
            table.add_row(
                sdk.release,
                sdk.target,
                sdk.kernel.get("version", "-"),
                sdk.sha256[:16],
                str(sdk.sdk_dir),
            )
        out.print(table)
        return 0
    if listing.release:
        out.print(f"targets of {listing.release}:", markup=False)
        for name in listing.targets:
            out.print(f"  {name}", markup=False)
    else:
        out.print("releases:", markup=False)
        for name in listing.releases:
            out.print(f"  {name}", markup=False)
    return 0


def clean(*, keep: int) -> int:
    result = sdk_cache.clean(keep)
    out = stdout_console()
    for path in result.removed:
        out.print(f"removed {path}", markup=False)
    out.print(
        f"kept {len(result.kept)} SDK(s), removed {len(result.removed)} item(s), "
        f"freed {result.freed / MIB:.1f} MiB",
        markup=False,
    )
    return 0
