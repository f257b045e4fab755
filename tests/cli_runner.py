"""Run kmodkit's command line as a user would: a real subprocess, this checkout's source first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment with this checkout's src/ first on PYTHONPATH, plus ``extra``."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_kmodkit(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``kmodkit ARGS`` (as ``python -m kmodkit``), from any directory."""
    return _run(["-m", "kmodkit", *args], cwd, env, timeout)


def run_invoke(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = 600,
) -> subprocess.CompletedProcess[str]:
    """``invoke ARGS`` on the checkout's tasks.py, from any directory."""
    return _run(["-m", "invoke", "-r", str(REPO), *args], cwd, env, timeout)


def _run(
    argv: list[str], cwd: Path | None, env: dict[str, str] | None, timeout: float | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=cli_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
