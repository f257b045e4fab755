"""The console driver against a scripted fake console (tests/boottest/fake_console.py, a
named stand-in: no OpenWrt image boots here). The real console is driven in the opt-in
network test."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from kmodkit.boottest.console import Console, ConsoleTimeout

FAKE = [sys.executable, str(Path(__file__).with_name("fake_console.py"))]


def test_login_then_commands_return_their_status_and_output(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    with Console(FAKE, log) as console:
        console.login(10)
        ok = console.run("echo hello; echo world", 10)
        assert (ok.status, ok.output) == (0, "hello\nworld")
        bad = console.run("echo oops >&2; exit_status() { return 3; }; exit_status", 10)
        assert bad.status == 3 and bad.output == "oops"
    text = log.read_bytes().decode()
    assert "Please press Enter" in text and "hello" in text


def test_a_command_that_overruns_its_timeout_raises_naming_it() -> None:
    with Console(FAKE) as console:
        console.login(10)
        start = time.monotonic()
        with pytest.raises(ConsoleTimeout, match=r"no sleep 30 within 0\.5 s"):
            console.run("sleep 30", 0.5)
        assert time.monotonic() - start < 10


def test_reboot_then_login_again_continues_the_session() -> None:
    with Console(FAKE) as console:
        console.login(10)
        assert console.run("true", 10).status == 0
        console.send("sync; reboot\n")
        console.login(10)
        assert "Restarting system" in console.transcript
        assert console.run("echo after", 10).output == "after"


def test_a_console_that_never_activates_times_out_and_is_killed() -> None:
    console = Console([*FAKE, "--silent"])
    with pytest.raises(ConsoleTimeout, match="Please press Enter") as err:
        console.login(1)
    assert "Linux version 6.6.93" in err.value.message  # the last line seen is quoted
    pid = console.proc.pid
    console.close()
    assert console.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone


def test_a_console_that_exits_is_reported_not_waited_for() -> None:
    with Console(FAKE) as console:
        console.login(10)
        console.send("poweroff\n")
        start = time.monotonic()
        with pytest.raises(ConsoleTimeout, match="exited"):
            console.run("true", 30)
        assert time.monotonic() - start < 10
