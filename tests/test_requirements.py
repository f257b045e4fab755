"""Declared dependencies: every runtime one is imported by kmodkit, the floors are the versions
the code needs, and an installed version below a floor is one clear error (via ``packaging``)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from kmodkit.requirements import installed_version, unmet

REPO = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"pyelftools": "elftools"}  # distribution -> import name, where they differ


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in project()["dependencies"]]


def test_every_runtime_dependency_is_imported_by_kmodkit() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "src/kmodkit").rglob("*.py"))
    for req in runtime_requirements():
        module = IMPORT_NAMES.get(req.name, req.name)
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.M), (
            f"{req.name} is a runtime dependency but no module of kmodkit imports {module}"
        )


def test_cryptography_floor_has_deterministic_ecdsa() -> None:
    """``ec.ECDSA(..., deterministic_signing=True)`` (RFC 6979) exists from cryptography 43."""
    [crypto] = [r for r in runtime_requirements() if r.name == "cryptography"]
    assert not crypto.specifier.contains(Version("42.0.8"))
    assert crypto.specifier.contains(Version("43.0.0"))


def test_installed_versions_satisfy_the_declared_ones() -> None:
    declared = [str(r) for r in runtime_requirements()]
    declared += project()["optional-dependencies"]["dev"]
    assert unmet(declared) == []


def test_a_version_below_the_floor_is_named() -> None:
    versions = {"cryptography": "42.0.8", "rich": "13.7.1"}
    problems = unmet(
        ["cryptography>=43", "rich>=13", "zstandard>=0.22", 'pytest>=8; extra == "dev"'],
        versions.get,
    )
    assert problems == [
        "cryptography 42.0.8 is installed but kmodkit needs cryptography>=43",
        "zstandard is not installed (kmodkit needs zstandard>=0.22)",
    ]
    assert installed_version("no-such-distribution-kmodkit") is None
