"""Real Kbuild against Debian's 6.1 headers: compile, decide, cache, fail loudly."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from kmodkit.errors import BuildError
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.kernel.modinfo import read_modinfo
from kmodkit.kernel.tree import KernelTree

pytestmark = pytest.mark.kernel


def test_distro_tree_facts(distro_tree: KernelTree) -> None:
    assert distro_tree.provider == "distro"
    assert distro_tree.arch == "x86" and distro_tree.pkg_arch == "x86_64"
    assert distro_tree.release.endswith("-amd64")
    assert distro_tree.version.count(".") == 2 and "-" not in distro_tree.version
    assert distro_tree.vermagic.startswith(distro_tree.release + " SMP")
    assert len(distro_tree.vermagic_hash) == 32 and len(distro_tree.identity) == 64
    assert distro_tree.config["CONFIG_NF_FLOW_TABLE"] == "m"


def test_compiled_modules_carry_tree_vermagic_and_depends(
    compiled_chain: dict[str, ModuleResult], distro_tree: KernelTree
) -> None:
    flow = compiled_chain["net/netfilter/nf_flow_table.ko"]
    offload = compiled_chain["net/netfilter/nft_flow_offload.ko"]
    assert flow.status in ("compiled", "cached") and flow.ko is not None
    assert offload.ko is not None
    flow_info = read_modinfo(flow.ko.read_bytes(), str(flow.ko))
    offload_info = read_modinfo(offload.ko.read_bytes(), str(offload.ko))
    assert flow_info.vermagic == distro_tree.vermagic
    assert offload_info.vermagic == distro_tree.vermagic
    assert flow_info.depends == ("nf_conntrack",)
    assert set(offload_info.depends) == {"nf_tables", "nf_conntrack", "nf_flow_table"}
    assert "flow_offload_alloc" in flow_info.exported
    assert "flow_offload_alloc" in offload_info.undefined
    assert flow_info.license == "GPL" and flow_info.name == "nf_flow_table"


def test_second_run_is_a_cache_hit(
    compiled_chain: dict[str, ModuleResult], distro_tree: KernelTree, tmp_path: Path
) -> None:
    from kernel_fixtures import CHAIN_REQUESTS

    again = obtain_modules(distro_tree, CHAIN_REQUESTS, jobs=2, log_dir=tmp_path)
    assert {r.status for r in again.values()} == {"cached"}
    assert [r.ko for r in again.values()] == [r.ko for r in compiled_chain.values()]
    assert not list(tmp_path.iterdir())  # nothing compiled, so no log written


def test_builtin_absent_and_missing(distro_tree: KernelTree, tmp_path: Path) -> None:
    requests = [
        ModuleRequest("kmod-lib-crc32", "lib/crc32.ko"),  # CONFIG_CRC32=y
        ModuleRequest("kmod-nft-core", "net/netfilter/nft_counter.ko", optional=True),
    ]
    results = obtain_modules(distro_tree, requests, jobs=1, log_dir=tmp_path)
    assert results["lib/crc32.ko"].status == "builtin"
    assert "CONFIG_CRC32=y" in results["lib/crc32.ko"].note
    counter = results["net/netfilter/nft_counter.ko"]
    assert counter.status == "absent" and "nf_tables.ko" in counter.note
    with pytest.raises(BuildError) as info:
        obtain_modules(
            distro_tree,
            [ModuleRequest("kmod-nft-core", "net/netfilter/nft_counter.ko")],
            jobs=1,
            log_dir=tmp_path,
        )
    assert "kmod-nft-core" in str(info.value) and "nft_counter.ko" in str(info.value)
    assert "\n" not in str(info.value)


def _broken_source(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "net" / "kmodkit_broken"
    src.mkdir(parents=True)
    (src / "Makefile").write_text("obj-$(CONFIG_NF_TABLES) += broken.o\n")
    (src / "broken.c").write_text(
        '#include <linux/module.h>\nint oops( {\nMODULE_LICENSE("GPL");\n'
    )
    return tmp_path / "src"


def test_failing_compile_gives_one_line_with_log(distro_tree: KernelTree, tmp_path: Path) -> None:
    tree = dataclasses.replace(
        distro_tree, source_root=_broken_source(tmp_path), source_tarball=None
    )
    request = ModuleRequest("kmod-broken", "net/kmodkit_broken/broken.ko")
    with pytest.raises(BuildError) as info:
        obtain_modules(tree, [request], jobs=1, log_dir=tmp_path / "logs")
    error = info.value
    assert error.log == str(tmp_path / "logs" / "net_kmodkit_broken.log")
    assert Path(error.log).is_file()
    assert "broken.c" in str(error) and "error" in str(error)
    assert "\n" not in str(error)


def test_missing_compiler_or_make(
    distro_tree: KernelTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = dataclasses.replace(
        distro_tree, source_root=_broken_source(tmp_path), source_tarball=None
    )
    request = ModuleRequest("kmod-broken", "net/kmodkit_broken/broken.ko")
    cross = dataclasses.replace(tree, cross_compile="nosuch-openwrt-linux-musl-")
    with pytest.raises(BuildError, match=r"nosuch-openwrt-linux-musl-gcc-12.*CROSS_COMPILE"):
        obtain_modules(cross, [request], jobs=1, log_dir=tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BuildError, match="`make` not found"):
        obtain_modules(tree, [request], jobs=1, log_dir=tmp_path)
    assert os.environ["PATH"] == str(empty)
