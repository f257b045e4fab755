"""The CLI edge: the only place that prints errors and turns them into exit codes.

Each ``kmodkit.cli.<area>`` module exposes plain functions that take the task's options,
call the library and return an exit status; ``tasks.py`` only wires them to invoke.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from kmodkit.errors import KmodkitError
from kmodkit.fsutil import Terminated, terminate_as_interrupt

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    """Standard output; wide enough off a terminal (CI logs, pipes) that tables are not cut."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160, soft_wrap=True)


def run(fn: Callable[..., int | None], **kwargs: Any) -> None:
    """Call ``fn`` and exit with its status; a KmodkitError becomes one line, no traceback."""
    try:
        with terminate_as_interrupt():  # SIGTERM cleans up exactly like Ctrl-C
            status = fn(**kwargs) or 0
    except KmodkitError as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except Terminated as exc:
        stderr.print("terminated")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    if status:
        sys.exit(status)
