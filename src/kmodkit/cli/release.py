"""`invoke release`, `release.merge` and `matrix`: live rows per pair, then one table."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.live import Live
from rich.table import Table

from kmodkit.cli import stdout_console
from kmodkit.release.plan import matrix_json

console = stdout_console()


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").replace(" ", ",").split(",") if p.strip())


def _live_table(rows: dict[str, str]) -> Table:
    table = Table(title="release", show_edge=False)
    table.add_column("pair", no_wrap=True)
    table.add_column("status", overflow="fold")
    for label, status in rows.items():
        table.add_row(label, status)
    return table


def release(
    *,
    targets: str,
    releases: str,
    kernel: str,
    jobs: int | None,
    shard: str | None,
    out: str,
    key: str | None,
    apk_key: str | None,
    mirrors: list[str] | None = None,
    sdk_keys: str | None = None,
    offline: bool = False,
    boottest: bool = False,
) -> int:
    from kmodkit.release.run import ReleaseOptions, select_pairs
    from kmodkit.release.run import release as run_release

    options = ReleaseOptions(
        targets=_split(targets),
        releases=_split(releases),
        kernel=kernel,
        jobs=jobs,
        shard=shard,
        out=Path(out),
        usign_key=Path(key) if key else None,
        apk_key=Path(apk_key) if apk_key else None,
        mirrors=tuple(mirrors or ()),
        sdk_keys=Path(sdk_keys) if sdk_keys else None,
        offline=offline,
        boottest=boottest,
    )
    rows = {p.label: "queued" for p in select_pairs(options)}  # bad names fail here, exit 2
    live = sys.stdout.isatty()
    with Live(_live_table(rows), console=console, transient=True, auto_refresh=live) as view:

        def on_event(label: str, message: str) -> None:
            if label in rows:
                rows[label] = message
                if live:
                    view.update(_live_table(rows))

        result = run_release(options, on_event=on_event)
    table = Table(title=f"release {result.out}")
    for column in ("pair", "result", "kmods", "packages", "compiled", "seconds"):
        table.add_column(column, overflow="fold")
    for outcome in result.outcomes:
        record = outcome.record or {}
        table.add_row(
            outcome.pair.label,
            "ok" if outcome.ok else f"[red]FAILED[/]: {outcome.message}",
            record.get("kmods", "-"),
            str(outcome.packages),
            str(outcome.compiled),
            f"{outcome.seconds:.1f}",
        )
    console.print(table)
    if result.published:
        console.print(f"verify: {result.verify_summary}")
        if result.boottest_summary:
            console.print(f"boottest: {result.boottest_summary}")
        console.print(f"published: {result.out} (index.json, sha256sums per target)")
    else:
        console.print(f"[red]nothing published[/]: every pair failed; {result.out} unchanged")
    console.print(f"log: {result.log}")
    failed = len(result.failed)
    if failed:
        console.print(f"[red]{failed} of {len(result.outcomes)} pairs failed[/]")
    return 1 if failed else 0


def merge(*, shards: list[str], out: str, keys: str | None) -> int:
    from kmodkit.release.merge import merge_trees

    result = merge_trees([Path(s) for s in shards], Path(out), Path(keys) if keys else None)
    console.print(f"merged {len(shards)} shards: {result.pairs} pairs, {result.files} files")
    console.print(f"verify: {result.verify_summary}")
    console.print(f"published: {result.out}")
    return 0


def matrix(*, targets: str, releases: str, shards: int) -> int:
    print(matrix_json(_split(targets), _split(releases), shards))
    return 0
