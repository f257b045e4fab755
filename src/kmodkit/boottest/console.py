"""Drive a serial console (a child process's stdin/stdout) like ``expect``, with timeouts.

``Console`` reads everything the child prints into a transcript, waits for a pattern with a
deadline, and runs shell commands by appending a marker that carries their exit status: the
marker's text is split in the command (``__KMK_""DONE_3__``), so the terminal's echo of the
command line never matches, only the shell's output does. The child runs in its own process
group, killed whole on close: no guest outlives its console.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodkit.boottest.qemu import kill_group
from kmodkit.errors import KmodkitError

PROMPT = re.compile(r"root@[^\s:]+:[^\n#]*# ?$", re.MULTILINE)
ACTIVATE = re.compile(r"Please press Enter to activate this console")


class ConsoleTimeout(KmodkitError):
    """The console did not show what was waited for in time (the message names it)."""


@dataclass(frozen=True)
class CommandResult:
    command: str
    status: int
    output: str  # what the command printed (the echoed command line removed)


class Console:
    def __init__(self, command: Sequence[str], log: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self._log = log.open("wb") if log is not None else None
        self.transcript = ""
        self._seen = 0  # transcript offset up to which matches were consumed
        self._count = 0
        self._eof = False

    def _read(self, until: float) -> None:
        """Read what is available (waiting at most until ``until``)."""
        assert self.proc.stdout is not None
        wait = max(0.0, until - time.monotonic())
        if self._eof or not self._selector.select(timeout=min(wait, 0.5)):
            if self._eof:
                time.sleep(min(wait, 0.05))
            return
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            self._eof = True
            return
        if self._log is not None:
            self._log.write(data)
            self._log.flush()
        self.transcript += data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")

    def expect(self, pattern: re.Pattern[str], timeout: float, what: str) -> re.Match[str]:
        """Wait for ``pattern`` after the last match; ConsoleTimeout naming ``what`` else."""
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.transcript, self._seen)
            if match:
                self._seen = match.end()
                return match
            if time.monotonic() > deadline or (self._eof and self.proc.poll() is not None):
                tail = self.transcript[self._seen :].strip().splitlines()[-1:] or ["(nothing)"]
                how = "exited" if self._eof else f"no {what} within {timeout:g} s"
                raise ConsoleTimeout(f"console: {how}; last line: {tail[0][-200:]}")
            self._read(deadline)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._eof = True

    def login(self, timeout: float) -> None:
        """Activate the console (OpenWrt's procd asks for Enter) and wait for the prompt."""
        deadline = time.monotonic() + timeout
        self.expect(ACTIVATE, timeout, "'Please press Enter to activate this console'")
        self.send("\n")
        self.expect(PROMPT, max(1.0, deadline - time.monotonic()), "shell prompt")

    def run(self, command: str, timeout: float) -> CommandResult:
        """Run one shell command line; its exit status comes back in a marker line."""
        self._count += 1
        tag = f"__KMK_DONE_{self._count}__"
        split = f'{tag[:6]}""{tag[6:]}'
        start = len(self.transcript)
        self.send(f"{command}; echo {split} $?\n")
        match = self.expect(re.compile(rf"^{tag} (\d+)$", re.MULTILINE), timeout, command)
        lines = self.transcript[start : match.start()].splitlines()
        output = "\n".join(line for line in lines if split not in line)
        return CommandResult(command, int(match.group(1)), output.strip("\n"))

    def close(self) -> int | None:
        kill_group(self.proc)
        self._selector.close()
        if self._log is not None:
            self._log.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
