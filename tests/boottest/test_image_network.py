"""OPT-IN (KMODKIT_NETWORK_TESTS=1): the real OpenWrt 24.10 image boots the feed.

Fetches the release's SDK and builds the feed on it, fetches the official image (kernel +
ext4 rootfs, usign-verified sha256sums with the pinned 24.10 key), boots it under QEMU,
installs the tools from the official feeds and the feed with the image's own opkg from a
local HTTP feed, reboots and runs the scenario. It needs the internet (host and guest) and
several minutes under TCG, so it is not run here or in CI by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodkit.boottest.image_boot import ImageBootOptions, run_image_boottest
from kmodkit.pipeline.build import BuildOptions, build
from kmodkit.sdk import FetchOptions, fetch_sdk

pytestmark = pytest.mark.skipif(
    os.environ.get("KMODKIT_NETWORK_TESTS") != "1",
    reason="opt-in: set KMODKIT_NETWORK_TESTS=1 on a machine with internet",
)
WANTED = {
    "boot.image",
    "boot.identity",
    "boot.install",
    "boot.kernel",
    "boot.modules",
    "boot.network",
    "boot.ruleset",
    "boot.transfer",
    "boot.offload",
    "boot.control",
}


@pytest.mark.parametrize("target", ["x86/64", "armsr/armv8"])
def test_official_image_installs_the_feed_and_offloads(tmp_path: Path, target: str) -> None:
    sdk = fetch_sdk(FetchOptions(release="24.10", target=target))
    built = build(BuildOptions(sdk=sdk.path, release="24.10", target=target, out=tmp_path))
    result = run_image_boottest(
        ImageBootOptions(
            path=built.out_dir,
            fetch=FetchOptions(release=sdk.sdk.release, target=target),
            timeout=1800,
            keep_logs=tmp_path / "logs",
        )
    )
    failures = [r.one_line() for r in result.report.results if r.status != "pass"]
    assert not failures, "\n".join(failures)
    assert {r.check_id for r in result.report.results} == WANTED
