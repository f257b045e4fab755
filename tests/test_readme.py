"""The README's set-up commands: CI runs exactly the test command, and the install command
works on Debian 12's externally managed Python (a venv, with the package it needs named)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    """Shell commands of a text, continuation lines joined, comments and blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [" ".join(line.split()) for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd ", "```"))]


def _setup_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh", 1)[1].split("```", 1)[0]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    block = _setup_block()
    test_part = block.split("# 2.", 1)[1].split("\n", 1)[1]
    ci = (REPO / ".ci/run").read_text()
    assert _commands(ci) == _commands(test_part)
    assert len(_commands(ci)) == 1


def test_install_command_uses_a_venv_and_names_the_debian_package() -> None:
    install = _commands(_setup_block().split("# 2.", 1)[0])
    assert len(install) == 1
    command = install[0]
    assert "apt-get install -y python3-venv" in command
    assert "python3 -m venv .venv" in command
    assert "python3 -m pip install" not in command  # refused by PEP 668 on Debian's python3
    assert command.index("python3 -m venv") < command.index(".venv/bin/pip install")
    assert command.endswith(".venv/bin/invoke build --target x86_64")  # the main job
    assert "/.venv/" in (REPO / ".gitignore").read_text().splitlines()
