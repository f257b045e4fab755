"""The CLI edge: the only place that prints errors and turns them into exit codes.

Each ``kmodkit.cli.<area>`` module exposes plain functions that take the task's options,
call the library and return an exit status; ``kmodkit.cli.tasks`` only wires them to invoke.

Whatever escapes a task becomes one line on stderr: a KmodkitError or an OSError (read-only
output, disk full: the path is named) or a MemoryError exits 2; anything else is a kmodkit bug,
exits 1 and says where its traceback was logged.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

from kmodkit.errors import KmodkitError, UsageError
from kmodkit.fsutil import Terminated, terminate_as_interrupt
from kmodkit.requirements import check_installed

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

INTERNAL_ERROR_STATUS = 1
BROKEN_PIPE_STATUS = 141  # 128 + SIGPIPE, what a shell reports for a killed writer
ENVIRONMENT_ERROR_STATUS = 2


#: Off a terminal (CI logs, pipes) tables may be this wide, so that no path is cut or folded
#: onto two lines; tables still take only the width their content needs.
LOG_WIDTH = 10_000


def stdout_console() -> Console:
    """Standard output; off a terminal wide enough that table cells stay on one line each."""
    console = Console(
        highlight=False, width=None if sys.stdout.isatty() else LOG_WIDTH, soft_wrap=True
    )
    # rich (>= 13.4) exits 1 on a closed pipe, which a CI gate would read as "a check failed"
    console.on_broken_pipe = stdout_closed  # type: ignore[method-assign]
    return console


def describe_os_error(exc: OSError) -> str:
    """``PATH: reason`` (both paths of a rename), or the reason alone when no path is known."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno, "") if exc.errno else "") or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def log_internal_error(exc: BaseException) -> Path | None:
    """Write the traceback under the cache's logs/ (else the temp dir); None if nowhere."""
    from kmodkit.resources import cache_dir

    text = "".join(traceback.format_exception(exc))
    name = f"internal-error-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.log"
    for directory in (cache_dir() / "logs", Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def stdout_closed() -> NoReturn:
    """The reader went away (``kmodkit verify dist | head``): stop quietly, as a shell tool does.

    Standard output is pointed at /dev/null so the interpreter's final flush cannot fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(BROKEN_PIPE_STATUS)


def _fail(message: str, status: int) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    sys.exit(status)


def run(fn: Callable[..., int | None], **kwargs: Any) -> None:
    """Call ``fn`` and exit with its status; whatever it raises becomes one line, no traceback."""
    try:
        check_installed()  # an unmet declared minimum is one line, not a TypeError later
        with terminate_as_interrupt():  # SIGTERM cleans up exactly like Ctrl-C
            status = fn(**kwargs) or 0
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except KmodkitError as exc:
        _fail(str(exc), exc.exit_code)
    except Terminated as exc:
        stderr.print("terminated")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        stdout_closed()
    except MemoryError:
        _fail("out of memory (the input is too large for this machine)", ENVIRONMENT_ERROR_STATUS)
    except OSError as exc:
        _fail(describe_os_error(exc), ENVIRONMENT_ERROR_STATUS)
    except Exception as exc:
        log = log_internal_error(exc)
        where = f"traceback in {log}" if log else "no log could be written"
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (a kmodkit bug; {where})",
            INTERNAL_ERROR_STATUS,
        )
    if status:
        sys.exit(status)


def check_writable_dir(path: Path, what: str) -> None:
    """Fail before any work when ``path`` (a directory, maybe not created yet) cannot be written.

    ``what`` names the option in the message, e.g. ``"--out dist"``.

    Probes the nearest existing ancestor with a real temporary file, which catches read-only
    mounts and missing permissions alike.
    """
    probe = Path(os.path.abspath(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{what}: {probe} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".kmodkit-write-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{what}: cannot write in {probe} ({exc.strerror})") from exc
