"""Download progress off a terminal: plain periodic lines (the rich bar is for terminals)."""

from __future__ import annotations

import io

from rich.console import Console

from kmodkit.cli.sdk import PlainProgress, byte_progress


def test_plain_lines_every_period_and_at_the_end() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    progress = PlainProgress(console, every=3600)
    for done in range(0, 4 << 20, 1 << 20):
        progress("sdk.tar.zst", done, 4 << 20)  # within the period: silent
    progress("sdk.tar.zst", 4 << 20, 4 << 20)  # finished: always said
    assert out.getvalue().splitlines() == ["downloading sdk.tar.zst: 4.0 of 4.0 MiB (100%)"]
    progress.every = 0
    progress("other", 3 << 19, None)
    assert out.getvalue().splitlines()[-1] == "downloading other: 1.5 MiB"


def test_a_log_gets_plain_lines_not_a_bar() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with byte_progress(console) as report:
        assert isinstance(report, PlainProgress)
