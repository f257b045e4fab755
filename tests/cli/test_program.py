"""The ``kmodkit`` console script (invoke's Program over kmodkit.cli.tasks) and the task options.

Run as real subprocesses from a directory that is not the checkout, as a pip user would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from invoke.parser.context import ParserContext

from cli_runner import cli_env, run_invoke, run_kmodkit
from kmodkit.cli.program import main, rewrite_task_argv
from kmodkit.cli.tasks import ns

REPO = Path(__file__).resolve().parents[2]


def kmodkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_kmodkit(*args, cwd=cwd)


def invoke(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_invoke(*args, cwd=cwd, timeout=300)


def test_console_script_is_declared_and_points_at_main() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    module, _, attr = project["scripts"]["kmodkit"].partition(":")
    assert (module, attr) == ("kmodkit.cli.program", "main")
    assert main.__module__ == module


def test_kmodkit_runs_outside_the_checkout(tmp_path: Path) -> None:
    proc = kmodkit("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("build", "verify", "generate", "deps", "keys.generate"):
        assert name in proc.stdout
    assert "--version" in proc.stdout and "--pty" not in proc.stdout  # no shell-runner options
    proc = kmodkit("deps", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kmod-nft-offload" in proc.stdout


def _spaced_artifacts(testdata: Path, tmp_path: Path) -> list[Path]:
    folder = tmp_path / "my artifacts"
    folder.mkdir()
    ipk = next((testdata / "ipk").glob("*.ipk"))
    apk = testdata / "apk" / "kmod-nft-offload-6.6.93-r1.apk"
    paths = [folder / "kernel package.ipk", folder / "nft offload.apk"]
    shutil.copyfile(ipk, paths[0])
    shutil.copyfile(apk, paths[1])
    return paths


def _artifacts(report: Path) -> set[str]:
    return {check["artifact"] for check in json.loads(report.read_text())["checks"]}


def test_kmodkit_verify_takes_several_paths_with_spaces(testdata: Path, tmp_path: Path) -> None:
    paths = _spaced_artifacts(testdata, tmp_path)
    report = tmp_path / "report.json"
    proc = kmodkit("verify", str(paths[0]), "--json", str(report), str(paths[1]), cwd=tmp_path)
    assert "cannot read" not in proc.stdout, proc.stdout
    assert proc.returncode in (0, 1), proc.stderr
    seen = _artifacts(report)
    assert any(str(paths[0]) in a for a in seen) and any(str(paths[1]) in a for a in seen)
    doc = json.loads(report.read_text())
    assert not [c for c in doc["checks"] if c["id"] == "input.unreadable"]


def test_invoke_verify_repeats_path(testdata: Path, tmp_path: Path) -> None:
    paths = _spaced_artifacts(testdata, tmp_path)
    report = tmp_path / "report.json"
    proc = invoke(
        "verify", str(paths[0]), "--path", str(paths[1]), "--json", str(report), cwd=tmp_path
    )
    assert proc.returncode in (0, 1), proc.stderr
    seen = _artifacts(report)
    assert any(str(paths[1]) in a for a in seen)
    assert not [c for c in json.loads(report.read_text())["checks"] if "unreadable" in c["id"]]


@pytest.mark.parametrize("runner", [kmodkit, invoke])
def test_verify_help_prints_help(runner, tmp_path: Path) -> None:
    proc = runner("verify", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--strict" in proc.stdout and "--json" in proc.stdout
    assert "cannot read" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("runner", "jobs"), [(kmodkit, "abc"), (kmodkit, "0"), (invoke, "abc"), (invoke, "-3")]
)
def test_invalid_jobs_is_one_clean_line(runner, jobs: str, tmp_path: Path) -> None:
    proc = runner("build", "--jobs", jobs, "--out", str(tmp_path / "dist"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --jobs must be a positive integer, not {jobs!r}"
    ]
    assert not (tmp_path / "dist").exists()


def _contexts() -> dict[str, ParserContext]:
    return {str(c.name): c for c in ns.to_contexts()}


def test_rewrite_turns_extra_words_into_paths() -> None:
    ctx = _contexts()
    assert rewrite_task_argv(["verify", "a", "b c", "--strict", "d"], ctx) == [
        "verify", "a", "--path", "b c", "--strict", "--path", "d",
    ]  # fmt: skip
    # a value of a flag stays the flag's value; a task name after verify is a path
    assert rewrite_task_argv(["verify", "a", "--json", "r.json", "build"], ctx) == [
        "verify", "a", "--json", "r.json", "--path", "build",
    ]  # fmt: skip
    # other tasks are left to invoke's own parser
    assert rewrite_task_argv(["build", "--jobs", "2", "deps"], ctx) == [
        "build", "--jobs", "2", "deps",
    ]  # fmt: skip
    assert rewrite_task_argv(["verify", "--help"], ctx) == ["--help", "verify"]
    assert rewrite_task_argv(["build", "-h"], ctx) == ["--help", "build"]
    assert rewrite_task_argv(["verify", "a", "--", "b"], ctx) == ["verify", "a", "--", "b"]


@pytest.mark.parametrize("args", [["--help"], ["verify", "{vectors}"]])
def test_a_closed_stdout_is_a_quiet_exit(args: list[str], testdata: Path, tmp_path: Path) -> None:
    """`kmodkit ... | head`: the reader is gone before kmodkit writes; no traceback."""
    argv = [a.format(vectors=testdata) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmodkit", *argv],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in err and "Exception ignored" not in err, err


def _task_names() -> list[str]:
    return sorted(ns.task_names)  # not ns.to_contexts(): that pops the help texts it reads


@pytest.mark.parametrize("task_name", _task_names())
def test_every_task_help_shows_each_option_with_its_text(
    task_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """invoke pops help texts while building parser contexts: twice in one process lost them."""
    from kmodkit.cli.program import program

    for _ in range(2):  # a second program in the same process keeps them too
        program().run(["kmodkit", task_name, "--help"], exit=False)
        out = capsys.readouterr().out
        options = out.split("Options:", 1)[1].splitlines()
        specs = [line for line in options if line.startswith("  -")]
        assert specs, out
        for line in specs:
            flags = line.split("  ")[1]
            assert not flags.startswith("--="), f"{task_name}: an option has the flag '-': {line}"
            assert len(line.strip()) > len(flags.strip()), f"{task_name}: no help text: {line}"
