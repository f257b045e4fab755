"""`invoke build --engine sdk-make`: the whole pipeline around a STAND-IN OpenWrt SDK.

No real SDK can be had here. The stand-in is one directory that is both a kernel tree for
``open_tree(sdk=...)`` (tests/standin_kernel.py: the distro kernel's .config/Module.symvers laid
out under build_dir/, a toolchain, an SDK .config) and a driveable SDK (standin_sdk.py:
recording ``scripts/feeds`` and ``Makefile``). Its "compile" copies REAL packages that the
direct engine built beforehand from the session's distro kernel for the same release, and its
``.vermagic`` is that build's vermagic hash, so the pipeline's verification can pass for real.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import standin_kernel
from kmodkit.errors import BuildError
from kmodkit.formats import ipk, opkg_feed, usign
from kmodkit.kernel.tree import KernelTree
from kmodkit.pipeline.build import BuildOptions, BuildResult, build

pytestmark = pytest.mark.kernel


def _load_standin_sdk() -> ModuleType:
    """Import the sibling helper by path (pytest runs with --import-mode=importlib)."""
    name = "kmodkit_tests_standin_sdk"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).with_name("standin_sdk.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


standin = _load_standin_sdk()


@dataclass
class Prepared:
    """The direct engine's build of the same release: the packages the stand-in hands out."""

    direct: BuildResult
    packages_dir: Path
    builtin_list: str


@dataclass
class SdkMakeRun:
    sdk: Path
    prepared: Prepared
    result: BuildResult


@pytest.fixture(scope="module")
def prepared(
    kmodkit_cache: Path, distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
) -> Prepared:
    direct = build(
        BuildOptions(
            out=tmp_path_factory.mktemp("direct-dist"),
            release="24.10",
            formats=("ipk",),
            allow_kernel_mismatch=True,  # Debian's 6.1 kernel, 24.10 packaging
        )
    )
    report = json.loads((direct.out_dir / "build-report.json").read_text())
    builtin = [rel for rel, info in report["modules"].items() if info["origin"] == "builtin"]
    return Prepared(
        direct=direct,
        packages_dir=direct.out_dir / "ipk",
        builtin_list="".join(f"kernel/{rel}\n" for rel in builtin),
    )


def _standin_sdk(
    root: Path, tree: KernelTree, prepared: Prepared, **knobs: list[str]
) -> tuple[Path, Path]:
    """The stand-in SDK (kernel tree + command surface) and an empty dist dir beside it."""
    sdk = standin_kernel.stand_in_sdk(
        root,
        tree,
        {},
        builtin=prepared.builtin_list,
        vermagic_hash=prepared.direct.tree.vermagic_hash,
    )
    options = standin.StandinOptions(prebuilt=str(prepared.packages_dir), **knobs)
    standin.install_standin_tooling(sdk, options)
    return sdk, root / "dist"


def _sdk_make_options(sdk: Path, out: Path) -> BuildOptions:
    return BuildOptions(
        engine="sdk-make",
        sdk=sdk,
        release="24.10",
        formats=("ipk",),
        out=out,
        jobs=2,
        allow_kernel_mismatch=True,  # the stand-in SDK carries Debian's 6.1 kernel
    )


@pytest.fixture(scope="module")
def sdk_make_run(
    prepared: Prepared, distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
) -> SdkMakeRun:
    sdk, out = _standin_sdk(tmp_path_factory.mktemp("sdk-make"), distro_tree, prepared)
    return SdkMakeRun(sdk, prepared, build(_sdk_make_options(sdk, out)))


def test_standin_sdk_is_the_prepared_kernel(sdk_make_run: SdkMakeRun) -> None:
    tree, direct = sdk_make_run.result.tree, sdk_make_run.prepared.direct.tree
    assert tree.provider == "sdk" and tree.build_dir.is_relative_to(sdk_make_run.sdk.resolve())
    assert (tree.release, tree.vermagic, tree.vermagic_hash) == (
        direct.release,
        direct.vermagic,
        direct.vermagic_hash,
    )


def test_sdk_received_the_openwrt_command_sequence(sdk_make_run: SdkMakeRun) -> None:
    result = sdk_make_run.result
    names = [p.name for p in result.packages]
    assert {"kmod-nft-offload", "kmod-nf-flow"} <= set(names)
    calls = standin.recorded_calls(sdk_make_run.sdk)
    argvs = [c["argv"] for c in calls]
    assert argvs[:3] == [
        ["./scripts/feeds", "update", "kmodkit"],
        ["./scripts/feeds", "install", "-f", "-p", "kmodkit", *names],
        ["make", "defconfig"],
    ]
    # One compile per source directory of the generated feed (shipped in dist/.../feed/).
    feed = result.out_dir / "feed"
    source_dirs = sorted(p.parent.name for p in feed.glob("*/Makefile"))
    compiles = argvs[3:]
    assert sorted(argv[1] for argv in compiles) == [f"package/{d}/compile" for d in source_dirs]
    assert all(argv[0] == "make" and argv[2:] == ["V=s"] for argv in compiles)
    assert all("-j2" in c["env"]["MAKEFLAGS"] for c in calls[3:])
    assert all(c["cwd"] == str(sdk_make_run.sdk.resolve()) for c in calls)
    # feeds.conf points the SDK at a stable copy of the generated feed, which outlives the build
    # (the dist feed/ is the same content), so later `scripts/feeds update` runs still find it.
    conf = (sdk_make_run.sdk / "feeds.conf").read_text().splitlines()
    assert conf[-1].startswith("src-link kmodkit ")
    linked = Path(conf[-1].split(" ", 2)[2])
    assert (linked / "nft-offload" / "Makefile").is_file()
    assert (linked / "nft-offload" / "Makefile").read_bytes() == (
        sdk_make_run.result.out_dir / "feed" / "nft-offload" / "Makefile"
    ).read_bytes()
    # defconfig kept every requested package as a module.
    config = (sdk_make_run.sdk / ".config").read_text()
    assert all(f"CONFIG_PACKAGE_{n}=m\n" in config for n in names)


def test_dist_holds_the_sdk_packages_and_a_signed_index(sdk_make_run: SdkMakeRun) -> None:
    result = sdk_make_run.result
    feed = result.out_dir / "ipk"
    assert result.out_dir == result.out_dir.parents[2] / "24.10" / "x86" / "64"
    sdk_built = sdk_make_run.sdk / "bin/targets/x86/64/packages"
    shipped = sorted(p.name for p in feed.glob("*.ipk"))
    assert shipped == sorted(p.name for p in sdk_built.glob("*.ipk"))
    assert len(shipped) == len(result.packages)
    for name in shipped:  # byte for byte what the SDK built
        assert (feed / name).read_bytes() == (sdk_built / name).read_bytes()
    direct = {p.name: p for p in sdk_make_run.prepared.direct.packages}
    for outcome in result.packages:
        assert outcome.artifacts == {"ipk": f"ipk/{Path(outcome.artifacts['ipk']).name}"}
        assert (result.out_dir / outcome.artifacts["ipk"]).stat().st_size == outcome.size
        # described from the SDK's own packages: version and modules as the direct build made
        assert (outcome.version, outcome.modules) == (
            direct[outcome.name].version,
            direct[outcome.name].modules,
        )
    assert not (result.out_dir / "apk").exists()
    # the virtual kernel package the kmods depend on ships beside the feed, unindexed
    (kernel_ipk,) = (result.out_dir / "kernel").glob("kernel_*.ipk")
    assert (
        kernel_ipk.name == f"kernel_{result.tree.version}~{result.tree.vermagic_hash}-r1_x86_64.ipk"
    )

    packages = (feed / "Packages").read_bytes()
    stanzas = [dict(s) for s in opkg_feed.parse_packages(packages, "Packages")]
    assert sorted(s["Filename"] for s in stanzas) == shipped
    by_name = {s["Package"]: s for s in stanzas}
    offload = next(feed.glob("kmod-nft-offload_*.ipk"))
    meta = ipk.read_ipk(offload.read_bytes(), offload.name).meta
    assert by_name["kmod-nft-offload"]["Version"] == meta.version
    assert meta.depends[0] == f"kernel (={result.tree.version}~{result.tree.vermagic_hash}-r1)"

    key_file = result.out_dir / "keys" / result.keys.usign_key_id
    public = usign.read_public_key(key_file.read_text(), str(key_file))
    signature = usign.read_signature((feed / "Packages.sig").read_text())
    assert usign.verify(packages, signature, public)
    assert not usign.verify(packages + b"\n", signature, public)


def test_verification_ran_and_passed(sdk_make_run: SdkMakeRun, kmodkit_cache: Path) -> None:
    result = sdk_make_run.result
    assert result.verify_summary.endswith(" 0 failed")
    passed = int(result.verify_summary.split(" passed")[0])
    assert passed >= len(result.packages)
    verify_log = kmodkit_cache / "logs" / "24.10" / "x86" / "64" / "verify.json"
    assert verify_log.is_file()
    report = json.loads((result.out_dir / "build-report.json").read_text())
    assert report["inputs"]["engine"] == "sdk-make"
    assert report["kernel"]["provider"] == "sdk"
    assert {a["path"] for a in report["artifacts"]} >= {"ipk/Packages", "ipk/Packages.sig"}


def test_failing_sdk_compile_is_one_line_and_leaves_no_dist(
    prepared: Prepared, distro_tree: KernelTree, tmp_path: Path
) -> None:
    sdk, out = _standin_sdk(tmp_path, distro_tree, prepared, fail_compile=["nft-offload"])
    with pytest.raises(BuildError) as err:
        build(_sdk_make_options(sdk, out))
    text = str(err.value)
    assert "\n" not in text
    assert "compile-nft-offload failed" in text and "make package/nft-offload/compile" in text
    assert "last lines: " in text and "| compile line 30 |" in text  # make's tail, folded
    assert err.value.log is not None and text.endswith(f"(log: {err.value.log})")
    log = Path(err.value.log)
    assert log.name.endswith("-compile-nft-offload.log")
    assert "ERROR: package/feeds/kmodkit/nft-offload failed to build." in log.read_text()
    assert not out.exists()


def test_sdk_packages_for_another_kernel_fail_verification(
    prepared: Prepared, distro_tree: KernelTree, tmp_path: Path
) -> None:
    """Verification checks what the SDK built against the SDK's own kernel, not just the files."""
    sdk, out = _standin_sdk(tmp_path, distro_tree, prepared)
    vermagic = next(sdk.glob("build_dir/target-*/linux-*/linux-*/.vermagic"))
    vermagic.write_text("0" * 32 + "\n")
    with pytest.raises(BuildError) as err:
        build(_sdk_make_options(sdk, out))
    text = str(err.value)
    assert "\n" not in text and text.startswith("verification failed (")
    assert "kernel.dependency" in text and "0" * 32 in text
    assert err.value.log is not None and err.value.log.endswith("verify.json")
    assert not out.exists()


def test_rebuilding_with_the_same_sdk_gives_the_same_feed(
    prepared: Prepared, distro_tree: KernelTree, tmp_path: Path
) -> None:
    sdk, out = _standin_sdk(tmp_path, distro_tree, prepared)
    first = build(_sdk_make_options(sdk, out))
    files = {p: p.read_bytes() for p in sorted(first.out_dir.rglob("*")) if p.is_file()}
    second = build(_sdk_make_options(sdk, out))
    assert second.out_dir == first.out_dir
    assert {p: p.read_bytes() for p in sorted(second.out_dir.rglob("*")) if p.is_file()} == files
    argvs = [c["argv"] for c in standin.recorded_calls(sdk)]
    half = len(argvs) // 2
    assert len(argvs) == 2 * half and argvs[:half] == argvs[half:]  # the SDK really ran twice
    assert second.verify_summary == first.verify_summary
