"""Kernel 6.12 as a distro tree: a 25.12 (apk) release on Debian 12's 6.12 kernel, offline.

The mapping is always tested; the build is opt-in (KMODKIT_TEST_DISTRO_612=1, marker
``cross_slow``): it provisions linux-source-6.12 and the matching headers through apt (about
150 MB) and compiles the chain against them (about 2 minutes on two cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kmodkit.formats import apk
from kmodkit.release.plan import Pair
from kmodkit.release.run import ReleaseOptions, distro_series_for, release


def test_release_series_picks_the_distro_kernel_that_has_it() -> None:
    assert distro_series_for(Pair("x86/64", "25.12")) == "6.12"
    assert distro_series_for(Pair("x86/64", "24.10")) is None  # 6.6: not in Debian 12
    assert distro_series_for(Pair("armsr/armv8", "25.12")) is None  # no arm64 6.12 tree


@pytest.mark.cross_slow
@pytest.mark.skipif(
    os.environ.get("KMODKIT_TEST_DISTRO_612") != "1", reason="opt-in: KMODKIT_TEST_DISTRO_612=1"
)
def test_apk_release_on_the_612_distro_kernel(kmodkit_cache: Path, tmp_path: Path) -> None:
    result = release(ReleaseOptions(targets=("x86/64",), releases=("25.12",), out=tmp_path / "R"))
    assert result.published and not result.failed, result.outcomes
    (record,) = json.loads((tmp_path / "R/index.json").read_text())["pairs"]
    assert record["release"] == "25.12" and record["formats"] == ["apk"]
    kernel = record["kernel"]
    assert kernel["version"].startswith("6.12.") and kernel["release"].endswith("-amd64")
    kmods = tmp_path / "R" / record["kmods"]
    assert (kmods / "packages.adb").is_file() and not (kmods / "Packages").exists()
    (offload,) = kmods.glob("kmod-nft-offload-*.apk")
    pkg = apk.read_apk(offload.read_bytes(), offload.name)
    assert f"kernel={kernel['version']}~{kernel['vermagic_hash']}-r1" in pkg.depends
