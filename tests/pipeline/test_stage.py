"""Staging a kmod the way OpenWrt's KernelPackage lays it out."""

from __future__ import annotations

from pathlib import Path

from kmodkit.formats.model import PackageMeta
from kmodkit.pipeline.scheme import version_scheme
from kmodkit.pipeline.stage import (
    POSTINST,
    PRERM,
    StagedFile,
    StagedSymlink,
    kmod_package,
    stage_entries,
)


def _testdata_entries(testdata: Path) -> tuple:
    tree = testdata / "apk" / "tree"
    mods = {
        p.name: p.read_bytes()
        for p in sorted((tree / "lib/modules/6.6.93").iterdir())
        if not p.is_symlink()
    }
    modules_d = (tree / "etc/modules.d/nft-offload").read_bytes()
    return stage_entries(
        mods,
        "6.6.93",
        [StagedFile("/etc/modules.d/nft-offload", modules_d)],
        [StagedSymlink("/lib/modules/6.6.93/nft-flow-offload-alias.ko", "nft_flow_offload.ko")],
    )


def test_stage_entries_adds_parent_dirs_sorted(testdata: Path) -> None:
    entries = _testdata_entries(testdata)
    paths = [e.path for e in entries]
    assert paths == sorted(paths)
    dirs = [e.path for e in entries if e.kind == "dir"]
    assert dirs == ["etc", "etc/modules.d", "lib", "lib/modules", "lib/modules/6.6.93"]
    link = next(e for e in entries if e.kind == "symlink")
    assert (link.target, link.mode) == ("nft_flow_offload.ko", 0o777)


def test_scripts_equal_openwrt_defaults(testdata: Path) -> None:
    assert (testdata / "apk/scripts/post-install").read_text() == POSTINST
    assert (testdata / "apk/scripts/pre-deinstall").read_text() == PRERM


def test_kmod_package_carries_default_scripts(testdata: Path) -> None:
    meta = PackageMeta(name="kmod-nft-offload", version="6.6.93-r1", arch="x86_64", description="x")
    pkg = kmod_package(meta, _testdata_entries(testdata))
    assert pkg.scripts == {"postinst": POSTINST, "prerm": PRERM}
    tree = testdata / "apk" / "tree"
    on_disk = sorted(
        rel
        for p in tree.rglob("*")
        if not (rel := p.relative_to(tree).as_posix()).startswith("lib/apk")
    )
    assert [e.path for e in pkg.entries] == on_disk


def test_version_schemes_follow_openwrt() -> None:
    old, new = version_scheme("dash1"), version_scheme("r1")
    assert old.kmod_version("5.15.137") == "5.15.137-1"
    assert old.kernel_dependency("5.15.137", "db5f") == "kernel (=5.15.137-1-db5f)"
    assert new.kmod_version("6.6.93") == "6.6.93-r1"
    assert new.kernel_dependency("6.6.93", "1745") == "kernel (=6.6.93~1745-r1)"
    assert new.kmods_dir("6.6.93", "1745") == "6.6.93-1-1745"
