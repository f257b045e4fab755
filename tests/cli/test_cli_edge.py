"""The CLI edge: whatever a task raises is one line on stderr, with the right exit status.

OSError (read-only output, disk full) and MemoryError exit 2 naming the path; anything else is
an internal error (exit 1) whose traceback is logged where the message says. Output locations
are checked for writability before any work.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import cli_env, run_kmodkit
from kmodkit.catalog.tables import lookup_target
from kmodkit.cli import check_writable_dir, run
from kmodkit.errors import FormatError, UsageError


def _run_status(fn, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exited:
        run(fn)
    return int(exited.value.code or 0), capsys.readouterr().err.strip().splitlines()


def test_disk_full_is_one_line_naming_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    def fill() -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/srv/dist/x.ipk")

    status, lines = _run_status(fill, capsys)
    assert status == 2
    assert lines == ["error: /srv/dist/x.ipk: No space left on device"]


def test_rename_error_names_both_paths(capsys: pytest.CaptureFixture[str]) -> None:
    def rename() -> int:
        os.rename("/nonexistent/kmodkit-a", "/nonexistent/kmodkit-b")
        return 0

    status, lines = _run_status(rename, capsys)
    assert status == 2
    assert lines == [
        "error: /nonexistent/kmodkit-a -> /nonexistent/kmodkit-b: No such file or directory"
    ]


def test_memory_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def grow() -> int:
        raise MemoryError

    status, lines = _run_status(grow, capsys)
    assert status == 2 and len(lines) == 1 and "out of memory" in lines[0]


def test_unexpected_exception_is_an_internal_error_with_a_logged_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMODKIT_CACHE", str(tmp_path / "cache"))

    def buggy() -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    status, lines = _run_status(buggy, capsys)
    assert status == 1 and len(lines) == 1
    assert lines[0].startswith("error: internal error: KeyError: 'missing' (a kmodkit bug;")
    log = Path(lines[0].split("traceback in ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "cache" / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in buggy" in text


def test_markup_in_an_error_is_printed_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    def bad() -> int:
        raise FormatError("package [/evil] is [bold]bad", where="x.ipk")

    status, lines = _run_status(bad, capsys)
    assert status == 2 and lines == ["error: x.ipk: package [/evil] is [bold]bad"]


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs when mounting is allowed (root on this machine), else /sys, where no
    one may create files."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)],
            capture_output=True,
        ).returncode
        == 0
    )
    yield mnt if mounted else Path("/sys")
    if mounted:
        subprocess.run(["umount", str(mnt)], check=True)


def test_check_writable_dir(readonly_dir: Path, tmp_path: Path) -> None:
    check_writable_dir(tmp_path / "new" / "deeper", "--out x")  # creatable: fine
    assert not (tmp_path / "new").exists()  # and nothing was created
    with pytest.raises(UsageError, match=r"^--out x: cannot write in "):
        check_writable_dir(readonly_dir / "dist", "--out x")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is not a directory"):
        check_writable_dir(tmp_path / "file" / "dist", "--out x")


def _kmodkit(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return run_kmodkit(*args, cwd=cwd, env=cli_env(KMODKIT_CACHE=str(cache)), timeout=120)


def test_build_into_a_readonly_out_fails_before_any_work(
    readonly_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    out = readonly_dir / "dist"
    proc = _kmodkit("build", "--target", "x86_64", "--out", str(out), cwd=tmp_path, cache=cache)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --out {out}: cannot write in {readonly_dir} (Read-only file system)"
        if readonly_dir != Path("/sys")
        else f"error: --out {out}: cannot write in /sys (Permission denied)"
    ]
    assert not cache.exists() or not any(cache.iterdir())  # no provisioning, no compile


def test_verify_report_into_a_readonly_dir_fails_up_front(
    readonly_dir: Path, testdata: Path, tmp_path: Path
) -> None:
    report = readonly_dir / "verify.json"
    proc = _kmodkit(
        "verify", str(testdata / "ipk"), "--json", str(report), cwd=tmp_path, cache=tmp_path
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --json {report}: cannot write in")
    assert proc.stdout == ""  # nothing was verified, no table


def test_kernel_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    config = tmp_path / ".config"
    config.write_text("CONFIG_X=y\n")
    proc = _kmodkit(
        "build", "--kernel-dir", str(config), "--out", str(tmp_path / "dist"),
        cwd=tmp_path, cache=tmp_path / "cache",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: not a directory (a kernel build directory is needed)"
    ]


def test_package_arch_aliases() -> None:
    unique = lookup_target("i386_pentium4")
    assert unique.pkg_arch == "i386_pentium4"
    assert lookup_target("x86_64").pkg_arch == "x86_64"
    with pytest.raises(UsageError) as shared:
        lookup_target("mips_24kc")
    message = str(shared.value)
    assert "package arch 'mips_24kc' is shared by" in message and "ath79/generic" in message
    assert "board/subtarget" in message


@pytest.mark.parametrize("task", ["generate", "keys.generate"])
def test_other_outputs_are_checked_up_front(task: str, readonly_dir: Path, tmp_path: Path) -> None:
    out = readonly_dir / "out"
    proc = _kmodkit(task, "--out", str(out), cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {out}: cannot write in ")
