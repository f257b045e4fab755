"""Cross-architecture builds on the distro default: real Debian arm64/mipsel kernels, ath79.

`invoke build --target armsr/armv8` prepares Debian's linux-source for arm64 with the real
arm64 kernel's .config and Module.symvers (fetched through the signed Debian archive the
machine's apt uses, like the x86 tree's apt provisioning), compiles the chain with
aarch64-linux-gnu-gcc and packs it. arm64 runs in every suite (marker ``cross``); mipsel
(ramips/mt7621) and big-endian mips (ath79/generic) are opt-in (marker ``cross_slow``, set
KMODKIT_TEST_CROSS_ALL=1): each prepares and compiles another full tree (~3 min on 2 cores).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kmodkit.formats import apk, ipk, opkg_feed
from kmodkit.formats.control import parse_depends
from kmodkit.kernel.modinfo import read_modinfo
from kmodkit.pipeline.build import BuildOptions, BuildResult, build
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.checks_elf import ElfArch, elf_identity

ALL = os.environ.get("KMODKIT_TEST_CROSS_ALL") == "1"
slow = [
    pytest.mark.cross_slow,
    pytest.mark.skipif(not ALL, reason="opt-in: KMODKIT_TEST_CROSS_ALL=1"),
]
CASES = [
    pytest.param(
        ("armsr/armv8", "aarch64_generic", ElfArch(183, 64, "little"), "aarch64"),
        id="arm64",
        marks=pytest.mark.cross,
    ),
    pytest.param(
        ("ramips/mt7621", "mipsel_24kc", ElfArch(8, 32, "little"), "32BIT"),
        id="mipsel",
        marks=slow,
    ),
    pytest.param(
        ("ath79/generic", "mips_24kc", ElfArch(8, 32, "big"), "MIPS32_R2 32BIT"),
        id="mips-be",
        marks=slow,
    ),
]


@pytest.fixture(scope="module", params=CASES)
def cross(
    request: pytest.FixtureRequest, kmodkit_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BuildResult, str, ElfArch, str]:
    target, pkg_arch, elf, magic_tail = request.param
    out = tmp_path_factory.mktemp("cross-dist")
    return build(BuildOptions(target=target, out=out)), pkg_arch, elf, magic_tail


def test_every_module_has_the_target_cpu_and_kernel(
    cross: tuple[BuildResult, str, ElfArch, str],
) -> None:
    result, pkg_arch, elf, magic_tail = cross
    assert result.tree.pkg_arch == pkg_arch and result.tree.cross_compile
    ipks = sorted((result.out_dir / "ipk").glob("*.ipk"))
    offload = [p for p in ipks if p.name.startswith("kmod-nft-offload_")]
    assert offload and offload[0].name.endswith(f"_{pkg_arch}.ipk")
    modules = 0
    for path in ipks:
        pkg = ipk.read_ipk(path.read_bytes(), path.name)
        assert pkg.meta.arch == pkg_arch
        for entry in pkg.entries:
            if entry.path.endswith(".ko"):
                modules += 1
                assert elf_identity(entry.data) == elf, entry.path
                info = read_modinfo(entry.data, entry.path)
                assert info.vermagic == result.tree.vermagic
                assert info.vermagic.endswith(magic_tail)
                assert entry.path.startswith(f"lib/modules/{result.tree.release}/")
    assert modules >= 20
    for path in sorted((result.out_dir / "apk").glob("*.apk")):
        pkg_apk = apk.read_apk(path.read_bytes(), path.name)
        assert pkg_apk.arch == pkg_arch
        for entry in pkg_apk.entries:
            if entry.path.endswith(".ko"):
                assert elf_identity(entry.data) == elf, entry.path


def test_kernel_dependency_and_installable_chain(
    cross: tuple[BuildResult, str, ElfArch, str],
) -> None:
    """Every Depends of the chain resolves inside the feed plus the kernel package, with the
    kernel version and config hash of the cross tree."""
    result = cross[0]
    feed = result.out_dir / "ipk"
    stanzas = [dict(s) for s in opkg_feed.parse_packages((feed / "Packages").read_bytes(), "P")]
    (kernel_ipk,) = (result.out_dir / "kernel").glob("kernel_*.ipk")
    kernel = ipk.read_ipk(kernel_ipk.read_bytes(), kernel_ipk.name).meta
    assert kernel.version == f"{result.tree.version}~{result.tree.vermagic_hash}-r1"
    versions = {s["Package"]: s["Version"] for s in stanzas} | {"kernel": kernel.version}
    todo, seen = ["kmod-nft-offload"], set()
    while todo:
        name = todo.pop()
        if name in seen or name == "kernel":
            continue
        seen.add(name)
        stanza = next(s for s in stanzas if s["Package"] == name)
        for alts in parse_depends(stanza.get("Depends", "")):
            assert alts[0].name in versions, (name, alts[0].name)
            if alts[0].op:
                assert versions[alts[0].name] == alts[0].version
            todo.append(alts[0].name)
    assert {"kmod-nf-flow", "kmod-nft-nat", "kmod-nf-conntrack", "kmod-nft-core"} <= seen


def test_verify_passes_including_elf_arch(cross: tuple[BuildResult, str, ElfArch, str]) -> None:
    result = cross[0]
    keys = result.out_dir.parent / "trusted-keys"
    shutil.copytree(result.out_dir / "keys", keys, dirs_exist_ok=True)
    report = verify_paths([result.out_dir], options=VerifyOptions(keys=keys))
    assert report.failed == 0 and report.warnings == 0, report.failures()
    elf = [r for r in report.results if r.check_id == "modules.elf-arch"]
    assert elf and {r.status for r in elf} == {"pass"}


def test_cross_tree_is_prepared_once_per_arch(
    cross: tuple[BuildResult, str, ElfArch, str], kmodkit_cache: Path
) -> None:
    """A second build reuses the prepared tree and the compiled modules: nothing recompiled."""
    result = cross[0]
    trees = sorted(p.name for p in (kmodkit_cache / "trees").iterdir() if p.is_dir())
    machine = cross[1].split("_")[0]
    assert len([t for t in trees if t.startswith(f"{machine}-")]) == 1
    stamp = (result.tree.build_dir / "kmodkit-tree.json").stat().st_mtime_ns
    again = build(BuildOptions(target=result.target.name, out=result.out_dir.parents[2] / "again"))
    assert again.compiled == 0 and again.tree.build_dir == result.tree.build_dir
    assert (result.tree.build_dir / "kmodkit-tree.json").stat().st_mtime_ns == stamp
