"""`invoke build --sdk`: packing an SDK's prebuilt modules (direct engine) for release 24.10.

The SDK is a stand-in (no real SDK can be had here) holding the real Kbuild-built modules of the
session's distro build, a fixed `.vermagic` and the kernel's modules.builtin.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

import standin_kernel
from kmodkit.formats import ipk
from kmodkit.kernel.tree import KernelTree
from kmodkit.pipeline.build import BuildOptions, build

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def sdk_build(
    kmodkit_cache: Path, distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
):
    first = build(BuildOptions(out=tmp_path_factory.mktemp("distro-dist")))
    report = json.loads((first.out_dir / "build-report.json").read_text())
    by_name = {}
    for path in sorted((first.out_dir / "ipk").glob("*.ipk")):
        for entry in ipk.read_ipk(path.read_bytes(), path.name).entries:
            if entry.path.endswith(".ko"):
                by_name[PurePosixPath(entry.path).name] = entry.data
    modules = {
        rel: by_name[PurePosixPath(rel).name]
        for rel, info in report["modules"].items()
        if info["origin"] == "compiled"
    }
    builtin = [rel for rel, info in report["modules"].items() if info["origin"] == "builtin"]
    builtin_list = "".join(f"kernel/{rel}\n" for rel in builtin)
    sdk = standin_kernel.stand_in_sdk(
        tmp_path_factory.mktemp("sdk"), distro_tree, modules, builtin=builtin_list
    )
    out = tmp_path_factory.mktemp("sdk-dist")
    return sdk, build(
        BuildOptions(
            sdk=sdk,
            release="24.10",
            formats=("ipk",),
            out=out,
            allow_kernel_mismatch=True,  # the stand-in SDK carries Debian's 6.1 kernel
        )
    )


def test_sdk_build_uses_the_sdk_kernel_identity(sdk_build) -> None:
    _, result = sdk_build
    assert result.tree.provider == "sdk"
    assert result.out_dir.parts[-3:] == ("24.10", "x86", "64")
    pkg = next((result.out_dir / "ipk").glob("kmod-nft-offload_*.ipk"))
    meta = ipk.read_ipk(pkg.read_bytes(), pkg.name).meta
    assert meta.depends[0] == f"kernel (={result.tree.version}~{standin_kernel.FIXED_VERMAGIC}-r1)"
    assert not (result.out_dir / "apk").exists()


def test_sdk_build_packs_prebuilt_modules_and_skips_builtin(sdk_build) -> None:
    _, result = sdk_build
    report = json.loads((result.out_dir / "build-report.json").read_text())
    origins = {rel: m["origin"] for rel, m in report["modules"].items()}
    assert origins["crypto/crypto_hash.ko"] == "builtin"  # listed in the SDK's modules.builtin
    assert origins["net/netfilter/nft_flow_offload.ko"] == "prebuilt"
    assert "compiled" not in origins.values()
    hash_pkg = next(p for p in result.packages if p.name == "kmod-crypto-hash")
    assert hash_pkg.status == "empty" and not hash_pkg.modules
    assert result.compiled == 0


def test_sdk_tree_is_read_from_the_sdk(sdk_build, distro_tree: KernelTree) -> None:
    """Kernel identity and module bytes come from the SDK, not from the distro kernel it was
    made of: the fixed .vermagic differs from the distro's computed hash, the build dir is
    the SDK's, and every packed .ko is byte for byte the SDK's prebuilt file."""
    sdk, result = sdk_build
    assert distro_tree.vermagic_hash != standin_kernel.FIXED_VERMAGIC
    assert result.tree.vermagic_hash == standin_kernel.FIXED_VERMAGIC
    assert result.tree.build_dir.is_relative_to(sdk.resolve())
    kernel_ipk = next((result.out_dir / "kernel").glob("kernel_*.ipk"))
    assert standin_kernel.FIXED_VERMAGIC in kernel_ipk.name
    packed = 0
    for path in (result.out_dir / "ipk").glob("*.ipk"):
        for entry in ipk.read_ipk(path.read_bytes(), path.name).entries:
            if entry.path.endswith(".ko"):
                shipped = list(sdk.rglob(PurePosixPath(entry.path).name))
                assert [p.read_bytes() for p in shipped] == [entry.data], entry.path
                packed += 1
    assert packed >= 10
