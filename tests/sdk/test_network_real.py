"""OPT-IN (KMODKIT_NETWORK_TESTS=1): the real 24.10 x86/64 SDK from downloads.openwrt.org.

Fetches it with the pinned OpenWrt 24.10 key and builds kmod-nft-offload on it. It needs the
internet (about 200 MB) and so is not run here or in CI by default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodkit.pipeline.build import BuildOptions, build
from kmodkit.sdk import FetchOptions, fetch_sdk

pytestmark = pytest.mark.skipif(
    os.environ.get("KMODKIT_NETWORK_TESTS") != "1",
    reason="opt-in: set KMODKIT_NETWORK_TESTS=1 on a machine with internet",
)


def test_real_24_10_sdk_fetches_verifies_and_builds(tmp_path: Path) -> None:
    result = fetch_sdk(FetchOptions(release="24.10", target="x86/64"))
    assert result.sdk.release.startswith("24.10.")
    assert result.sdk.kernel["version"].startswith("6.6.")
    assert fetch_sdk(FetchOptions(release=result.sdk.release, target="x86/64")).downloaded is False
    built = build(BuildOptions(sdk=result.path, release="24.10", target="x86/64", out=tmp_path))
    assert built.tree.vermagic_hash == result.sdk.kernel["vermagic"]
    assert any((built.out_dir / "ipk").glob("kmod-nft-offload_*.ipk"))
