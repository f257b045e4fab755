"""The sdk and path providers on stand-in directories, and the distro provider's refusals."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

import standin_kernel
from kmodkit.errors import BuildError, KernelTreeError, UsageError
from kmodkit.kernel import open_tree
from kmodkit.kernel.distro import open_distro_tree
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.kernel.sources import ensure_source_dirs
from kmodkit.kernel.tree import KernelTree

FIXED_VERMAGIC = standin_kernel.FIXED_VERMAGIC


def _stand_in_sdk(tmp: Path, tree: KernelTree, flow_ko: Path) -> Path:
    return standin_kernel.stand_in_sdk(tmp, tree, {"net/netfilter/nf_flow_table.ko": flow_ko})


def _kernel_dir(root: Path, tree: KernelTree, flow_ko: Path) -> Path:
    return standin_kernel.kernel_dir(root, tree, {"net/netfilter/nf_flow_table.ko": flow_ko})


@pytest.mark.kernel
def test_sdk_provider_on_stand_in(
    distro_tree: KernelTree, compiled_chain: dict[str, ModuleResult], tmp_path: Path
) -> None:
    flow_ko = compiled_chain["net/netfilter/nf_flow_table.ko"].ko
    assert flow_ko is not None
    sdk = _stand_in_sdk(tmp_path, distro_tree, flow_ko)
    tree = open_tree(sdk=sdk)
    assert tree.provider == "sdk" and tree.pkg_arch == "x86_64" and tree.arch == "x86"
    assert tree.vermagic_hash == FIXED_VERMAGIC  # the SDK's fixed value, not recomputed
    assert tree.cross_compile.endswith("/bin/x86_64-openwrt-linux-musl-")
    assert tree.release == distro_tree.release and tree.version == distro_tree.version
    assert tree.vermagic == distro_tree.vermagic  # read from the prebuilt .ko
    assert tree.source_root is None
    results = obtain_modules(
        tree,
        [
            ModuleRequest("kmod-nf-flow", "net/netfilter/nf_flow_table.ko"),
            ModuleRequest("kmod-nf-conntrack", "net/netfilter/nf_conntrack.ko"),
            ModuleRequest("kmod-nft-core", "net/netfilter/nft_quota.ko", optional=True),
        ],
        jobs=1,
        log_dir=tmp_path / "logs",
    )
    assert results["net/netfilter/nf_flow_table.ko"].status == "prebuilt"
    assert results["net/netfilter/nf_flow_table.ko"].ko == (
        tree.build_dir / "net/netfilter/nf_flow_table.ko"
    )
    assert results["net/netfilter/nf_conntrack.ko"].status == "builtin"
    assert results["net/netfilter/nft_quota.ko"].status == "absent"
    with pytest.raises(BuildError, match=r"nft_quota\.ko of package kmod-nft-core is missing"):
        obtain_modules(
            tree,
            [ModuleRequest("kmod-nft-core", "net/netfilter/nft_quota.ko")],
            jobs=1,
            log_dir=tmp_path,
        )


@pytest.mark.kernel
def test_path_provider_on_stand_in_and_real_headers(
    distro_tree: KernelTree, compiled_chain: dict[str, ModuleResult], tmp_path: Path
) -> None:
    flow_ko = compiled_chain["net/netfilter/nf_flow_table.ko"].ko
    assert flow_ko is not None
    tree = open_tree(kernel_dir=_kernel_dir(tmp_path / "kdir", distro_tree, flow_ko))
    assert tree.provider == "path" and tree.pkg_arch is None
    assert tree.vermagic_hash == distro_tree.vermagic_hash  # recomputed from the same .config
    assert tree.identity == distro_tree.identity
    assert tree.builtin_modules == frozenset({"net/netfilter/nf_conntrack.ko"})
    headers = open_tree(kernel_dir=distro_tree.build_dir)
    assert headers.release == distro_tree.release  # utsrelease.h, not Debian's kernel.release
    assert headers.version == distro_tree.version and headers.modules_dir == headers.build_dir


@pytest.mark.parametrize("missing", [".config", "Makefile", "Module.symvers"])
def test_broken_tree_is_one_line(tmp_path: Path, missing: str) -> None:
    for name in (".config", "Makefile", "Module.symvers"):
        if name != missing:
            (tmp_path / name).write_text("")
    with pytest.raises(KernelTreeError) as info:
        open_tree(kernel_dir=tmp_path)
    assert f"{missing} is missing" in str(info.value) and "\n" not in str(info.value)


def test_not_an_sdk(tmp_path: Path) -> None:
    with pytest.raises(KernelTreeError, match="not an OpenWrt SDK"):
        open_tree(sdk=tmp_path)
    with pytest.raises(UsageError):
        open_tree(sdk=tmp_path, kernel_dir=tmp_path)


def test_distro_without_packages_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(KernelTreeError, match=r"apt-get install -y linux-headers-amd64"):
        open_distro_tree(provision_missing=False, src=tmp_path)


@pytest.mark.kernel
def test_source_version_mismatch_names_both(distro_tree: KernelTree, tmp_path: Path) -> None:
    top = tmp_path / "pack" / "linux-source-6.1"
    (top / "net/netfilter").mkdir(parents=True)
    (top / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 100\n")
    (top / "net/netfilter/Makefile").write_text("obj-m += x.o\n")
    tarball = tmp_path / "linux-source-6.1.tar.xz"
    subprocess.run(
        ["tar", "-cJf", str(tarball), "-C", str(tmp_path / "pack"), "linux-source-6.1"], check=True
    )
    tree = dataclasses.replace(
        distro_tree, source_tarball=tarball, source_root=tmp_path / "unpacked"
    )
    with pytest.raises(KernelTreeError) as info:
        ensure_source_dirs(tree, ["net/netfilter"])
    assert "6.1.100" in str(info.value) and distro_tree.version in str(info.value)
    assert not (tmp_path / "unpacked" / "net/netfilter").exists()
