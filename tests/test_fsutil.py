"""Output is written whole or not at all, with the umask's modes, surviving kills and races."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmodkit.fsutil import (
    atomic_directory,
    atomic_write_bytes,
    is_temp_name,
    sweep_stale,
    sweep_stale_under,
    temp_directory,
    temp_prefix,
)


def test_atomic_directory_replaces_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "dist" / "x86" / "64"
    with atomic_directory(dest) as work:
        (work / "a").write_text("one")
    assert (dest / "a").read_text() == "one"
    with pytest.raises(RuntimeError), atomic_directory(dest) as work:
        (work / "a").write_text("two")
        raise RuntimeError("verification failed")
    assert (dest / "a").read_text() == "one"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["64"]


def test_failed_atomic_directory_removes_the_parents_it_made(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "dist/23.05/x86/64") as work:
        (work / "partial.ipk").write_bytes(b"half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "dist").rglob("*")) == ["keep.txt"]


def test_atomic_write_leaves_no_temp_file_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing rename (full disk, EXDEV...) keeps the old file and removes the temp file."""
    target = tmp_path / "Packages"
    atomic_write_bytes(target, b"old")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("kmodkit.fsutil.os.replace", fail)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["Packages"]


# ---------------------------------------------------------------- umask, kills, concurrency

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _modes(root: Path) -> set[int]:
    return {p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize(("umask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_output_honours_the_umask(tmp_path: Path, umask: int, dirs: int, files: int) -> None:
    old = os.umask(umask)
    try:
        with atomic_directory(tmp_path / "dist" / "64") as work:
            atomic_write_bytes(work / "ipk" / "Packages", b"x")
            (work / "plain").write_bytes(b"y")
        atomic_write_bytes(tmp_path / "secret", b"k", mode=0o600)
    finally:
        os.umask(old)
    dest = tmp_path / "dist" / "64"
    assert (dest.stat().st_mode & 0o777, (dest / "ipk").stat().st_mode & 0o777) == (dirs, dirs)
    assert (dest / "ipk" / "Packages").stat().st_mode & 0o777 == files
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600


def test_temp_names_carry_the_owner_pid() -> None:
    name = temp_prefix("64") + "abc_9" + ".tmp"
    assert name == f".64.kmodkit-{os.getpid()}-abc_9.tmp" and is_temp_name(name)
    assert is_temp_name(".Packages.gz.kmodkit-12-x.tmp")
    assert not is_temp_name("64") and not is_temp_name(".64.abc.tmp")
    assert not is_temp_name("kmod-x_1.0-r1_x86_64.ipk")


def test_sweep_removes_only_dead_owners(tmp_path: Path) -> None:
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f".64.kmodkit-{dead}-aaa.tmp").mkdir()
        (tmp_path / f".64.kmodkit-{dead}-aaa.tmp" / "f").write_text("debris")
        (tmp_path / f".Packages.kmodkit-{dead}-bbb.tmp").write_text("debris")
        (tmp_path / f".64.kmodkit-{live.pid}-ccc.tmp").mkdir()
        (tmp_path / "sub" / "xx").mkdir(parents=True)
        (tmp_path / "sub" / "xx" / f".key.kmodkit-{dead}-ddd.tmp").mkdir()
        (tmp_path / "sub" / "keep.tmp").write_text("not ours")
        removed = sweep_stale([tmp_path])
        assert len(removed) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            f".64.kmodkit-{live.pid}-ccc.tmp",
            "sub",
        ]
        assert [p.name for p in sweep_stale_under(tmp_path, 2)] == [f".key.kmodkit-{dead}-ddd.tmp"]
        assert sorted(p.name for p in (tmp_path / "sub").rglob("*")) == ["keep.tmp", "xx"]
    finally:
        live.kill()
        live.wait()


def test_temp_directory_is_removed_and_pid_named(tmp_path: Path) -> None:
    with temp_directory(tmp_path, "kbuild") as tmp:
        assert is_temp_name(tmp.name) and str(os.getpid()) in tmp.name
        (tmp / "x").write_text("1")
    assert not list(tmp_path.iterdir())


_SLOW_WRITER = """
    import sys, time
    from pathlib import Path
    from kmodkit.cli import run
    from kmodkit.fsutil import atomic_directory

    def job() -> int:
        with atomic_directory(Path(sys.argv[1])) as work:
            (work / "half.ipk").write_bytes(b"x")
            print("ready", flush=True)
            time.sleep(60)
        return 0

    run(job)
"""


def test_sigterm_cleans_up_and_exits_143(tmp_path: Path) -> None:
    dest = tmp_path / "dist" / "x86" / "64"
    proc = _python(_SLOW_WRITER, str(dest))
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.strip() == "terminated"
    assert not (tmp_path / "dist").exists()  # no temp copy, no parents it created


def test_sigkill_debris_is_swept_by_the_next_run(tmp_path: Path) -> None:
    dest = tmp_path / "dist" / "64"
    with atomic_directory(dest) as work:
        (work / "a").write_text("one")
    proc = _python(_SLOW_WRITER, str(dest))
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.kill()
    proc.communicate(timeout=30)
    debris = [p.name for p in dest.parent.iterdir() if is_temp_name(p.name)]
    assert len(debris) == 1 and str(proc.pid) in debris[0]
    with atomic_directory(dest) as work:
        (work / "a").write_text("two")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["64"]
    assert (dest / "a").read_text() == "two"


_RACER = """
    import sys
    from pathlib import Path
    from kmodkit.fsutil import atomic_directory

    dest, me = Path(sys.argv[1]), sys.argv[2]
    for round in range(25):
        with atomic_directory(dest) as work:
            for n in range(20):
                (work / f"f{n}").write_text(me)
"""


def test_concurrent_builds_into_one_destination(tmp_path: Path) -> None:
    """Real processes swapping the same directory: no error, no debris, one whole tree."""
    dest = tmp_path / "dist" / "x86" / "64"
    procs = [_python(_RACER, str(dest), str(n)) for n in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert sorted(p.name for p in dest.parent.iterdir()) == ["64"]
    contents = {p.read_text() for p in dest.iterdir()}
    assert len(list(dest.iterdir())) == 20 and len(contents) == 1
