"""Session fixtures: the real-tool vectors (tests/vectors) and one kmodkit cache per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Kernel fixtures (distro tree, compiled chain) are shared by kernel, build and verify tests.
pytest_plugins = ["kernel_fixtures"]

VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """tests/vectors: files made by the real opkg, usign and apk-tools (see its README)."""
    return VECTORS


@pytest.fixture(scope="session")
def kmodkit_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the session, so kernel sources are unpacked and modules compiled once.

    KMODKIT_TEST_CACHE keeps it across sessions on a developer machine.
    """
    keep = os.environ.get("KMODKIT_TEST_CACHE")
    path = Path(keep) if keep else tmp_path_factory.mktemp("kmodkit-cache")
    path.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("KMODKIT_CACHE")
    os.environ["KMODKIT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KMODKIT_CACHE", None)
    else:
        os.environ["KMODKIT_CACHE"] = old
