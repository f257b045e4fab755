"""`invoke build --release R --target T` with no tree: fetch the release's SDK, then build on it.

The SDK on the synthetic mirror is the stand-in (tests/standin_kernel.py: the real Kbuild-built
modules of the session's distro build, a fixed .vermagic, Module.symvers) packed as the real
SDK archive is. It carries Debian's 6.1 kernel, so a 24.10 build must be explicitly allowed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

import sdk_mirror
import standin_kernel
from kmodkit.cli import build as build_cli
from kmodkit.errors import UsageError
from kmodkit.formats import ipk, usign
from kmodkit.kernel.tree import KernelTree
from kmodkit.pipeline.build import BuildOptions, build

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def standin_archive(
    kmodkit_cache: Path, distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The stand-in SDK as ``openwrt-sdk-24.10.4-...tar.zst`` (built in the session cache)."""
    dist = build(BuildOptions(out=tmp_path_factory.mktemp("distro-dist"))).out_dir
    sdk = standin_kernel.stand_in_sdk_from_dist(tmp_path_factory.mktemp("sdk"), distro_tree, dist)
    out = tmp_path_factory.mktemp("archive") / "sdk.tar.zst"
    top = "openwrt-sdk-24.10.4-x86-64_gcc-13.3.0_musl.Linux-x86_64"
    return sdk_mirror.pack(sdk, out, top=top)


@pytest.fixture()
def standin_mirror(
    httpserver: HTTPServer,
    tmp_path: Path,
    signing_key: usign.UsignSecretKey,
    standin_archive: Path,
    distro_tree: KernelTree,
) -> str:
    site = sdk_mirror.SyntheticMirror(tmp_path / "www", signing_key)
    site.add_release(
        "24.10.4",
        standin_archive,
        kernel_version=distro_tree.version,
        vermagic=standin_kernel.FIXED_VERMAGIC,
    )
    sdk_mirror.serve(httpserver, site.root)
    return httpserver.url_for("").rstrip("/")


def cli_build(mirror: str, keys: Path, out: Path, **extra: object) -> int:
    options: dict[str, object] = {
        "target": "x86/64",
        "release": "24.10",
        "sdk": None,
        "kernel_dir": None,
        "fmt": None,
        "engine": "direct",
        "out": str(out),
        "key": None,
        "apk_key": None,
        "jobs": None,
        "package": "kmod-nft-offload",
        "feeds": [],
        "check_reproducible": False,
        "mirrors": [mirror],
        "sdk_keys": str(keys),
    }
    options.update(extra)
    return build_cli.build(**options)  # type: ignore[arg-type]


def test_build_release_fetches_the_sdk_and_builds_on_it(
    standin_mirror: str, keys_dir: Path, tmp_path: Path, own_cache: Path, distro_tree: KernelTree
) -> None:
    with pytest.raises(UsageError, match=r"runs kernel 6\.6 .* --allow-kernel-mismatch"):
        cli_build(standin_mirror, keys_dir, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()

    assert cli_build(standin_mirror, keys_dir, tmp_path / "dist", allow_kernel_mismatch=True) == 0
    feed = tmp_path / "dist" / "24.10" / "x86" / "64"
    pkg = next((feed / "ipk").glob("kmod-nft-offload_*.ipk"))
    meta = ipk.read_ipk(pkg.read_bytes(), pkg.name).meta
    assert meta.depends[0] == f"kernel (={distro_tree.version}~{standin_kernel.FIXED_VERMAGIC}-r1)"
    assert (feed / "ipk" / "Packages.sig").is_file() and not (feed / "apk").exists()
    (entry,) = (own_cache / "sdk" / "24.10.4" / "x86-64").glob("????????????????")
    assert (entry / "fetch.json").is_file()

    # offline, the cached SDK is enough
    offline = tmp_path / "offline"
    assert (
        cli_build("http://127.0.0.1:9", keys_dir, offline, allow_kernel_mismatch=True, offline=True)
        == 0
    )
    assert next((offline / "24.10/x86/64/ipk").glob("kmod-nft-offload_*.ipk")).read_bytes() == (
        pkg.read_bytes()
    )


def test_build_on_an_sdk_tarball(
    standin_archive: Path, tmp_path: Path, own_cache: Path, distro_tree: KernelTree
) -> None:
    tarball = tmp_path / "openwrt-sdk-24.10.4-x86-64.tar.zst"
    shutil.copy(standin_archive, tarball)
    options = BuildOptions(
        sdk=tarball,
        release="24.10",
        formats=("ipk",),
        out=tmp_path / "dist",
        allow_kernel_mismatch=True,
    )
    result = build(options)
    assert (
        result.tree.provider == "sdk" and result.tree.vermagic_hash == standin_kernel.FIXED_VERMAGIC
    )
    assert result.tree.build_dir.is_relative_to(own_cache / "sdk" / "local")
    again = build(options)  # unpacked once, by sha256
    assert again.tree.build_dir == result.tree.build_dir
