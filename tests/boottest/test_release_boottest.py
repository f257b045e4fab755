"""`invoke release --boottest`: every target of the release tree boots before it is published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmodkit.release.run import ReleaseOptions, release

pytestmark = [pytest.mark.kernel, pytest.mark.boot]


def test_release_tree_is_boot_tested_before_publishing(kmodkit_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "DIR"
    result = release(ReleaseOptions(targets=("x86/64",), out=out, boottest=True))
    assert result.published and not result.failed
    assert "passed, 0 failed" in result.boottest_summary
    (kmods,) = out.glob("releases/*/targets/x86/64/kmods/*")
    assert str(kmods.relative_to(out)) in result.boottest_summary  # the target, by its path
    report = json.loads((kmodkit_cache / "logs" / "release" / "boottest.json").read_text())
    assert report["ok"] and report["failed"] == 0
    ids = {c["id"] for c in report["checks"]}
    assert {"boot.kernel", "boot.modules", "boot.offload", "boot.control"} <= ids
