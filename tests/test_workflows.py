"""The GitHub workflows: valid against GitHub's workflow schema, and every `invoke` command
they run parses with kmodkit's own tasks (the ones the other tests run).

The schema is the one check-jsonschema vendors (``--builtin-schema vendor.github-workflows``),
so nothing is fetched.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.parser import Parser
from ruamel.yaml import YAML

from kmodkit.cli.tasks import ns

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
# what the workflows' environment variables hold on a run (their defaults)
VALUES = {"TARGETS": "x86/64,armsr/armv8", "RELEASES": "24.10", "SHARDS": "2", "RUNNER_TEMP": "/t"}


def check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def run_scripts(path: Path) -> list[str]:
    doc = YAML(typ="safe").load(path.read_text())
    return [
        step["run"]
        for job in doc["jobs"].values()
        for step in job.get("steps", [])
        if "run" in step
    ]


def invoke_commands(path: Path) -> list[list[str]]:
    """Each ``invoke ...`` of the run scripts, with ${{ }} expressions and $VARS filled in."""
    out = []
    for script in run_scripts(path):
        script = re.sub(r"\$\{\{[^}]*\}\}", "1/2", script)
        script = re.sub(r'"\$\(ls[^)]*\)"', "shards/a,shards/b", script)
        script = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: VALUES.get(m.group(1), "x"), script)
        for line in script.replace("\\\n", " ").splitlines():
            start = line.find("invoke ")
            if start < 0:
                continue
            command = re.sub(r'\)"\s*>>.*$', "", line[start:])  # echo "x=$(invoke ...)" >> ...
            words = shlex.split(re.split(r"&&|;", command)[0])
            out.append(words[1:])
    return out


def test_workflows_exist_and_match_the_schema() -> None:
    assert [p.name for p in FILES] == ["ci.yml", "release.yml"]
    proc = check_schema(*FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (WORKFLOWS / "ci.yml").read_text().replace("runs-on: ubuntu-latest", "runs_on: x")
    )
    proc = check_schema(broken)
    assert proc.returncode != 0 and "runs-on" in proc.stdout + proc.stderr


def _commands(text: str) -> list[str]:
    """Shell commands, continuation lines joined and white space normalised (as test_readme)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [" ".join(line.split()) for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]


def test_ci_runs_lint_types_and_the_readme_test_command() -> None:
    (test_command,) = _commands((REPO / ".ci/run").read_text())  # == README's (test_readme)
    scripts = [c for script in run_scripts(WORKFLOWS / "ci.yml") for c in _commands(script)]
    assert test_command in scripts
    assert ".ci/check-min-deps" in scripts
    lint = "ruff check src tests tasks.py bench && ruff format --check src tests tasks.py bench"
    assert lint in scripts
    assert ".venv/bin/mypy src/kmodkit" in scripts


@pytest.mark.parametrize("name", ["release.yml", "ci.yml"])
def test_every_invoke_command_parses_with_the_real_tasks(name: str) -> None:
    parser = Parser(contexts=ns.to_contexts())
    commands = invoke_commands(WORKFLOWS / name)
    for argv in commands:
        parsed = parser.parse_argv(argv)  # ParseError on an unknown task or option
        assert parsed and parsed[0].name in {"matrix", "release.release", "release.merge", "verify"}
    if name == "release.yml":
        tasks = [argv[0] for argv in commands]
        assert tasks == ["matrix", "release", "release.merge", "verify"]
        assert "--shard" in commands[1] and "--out" in commands[2]


def test_release_workflow_matrix_command_gives_a_strategy_matrix(tmp_path: Path) -> None:
    """The plan job's command, run for real with the workflow's default inputs."""
    doc = YAML(typ="safe").load((WORKFLOWS / "release.yml").read_text())
    default = doc["on"]["workflow_dispatch"]["inputs"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "-r",
            str(REPO),
            "matrix",
            "--targets",
            default["targets"]["default"],
            "--shards",
            default["shards"]["default"],
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    matrix = json.loads(proc.stdout)
    assert [e["shard"] for e in matrix["include"]] == ["1/2", "2/2"]
    names = {e["name"] for e in matrix["include"]}
    assert all(n.startswith("shard-") for n in names)  # what the merge job downloads
