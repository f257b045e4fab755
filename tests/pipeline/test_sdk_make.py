"""The sdk-make engine against a STAND-IN SDK (see standin_sdk.py): commands, files, errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kmodkit.errors import BuildError, KernelTreeError, UsageError
from kmodkit.pipeline.sdk_make import (
    SdkMakeResult,
    find_artifact,
    render_feeds_conf,
    run_sdk_make,
    source_dirs_from_index,
)


def _load_standin() -> ModuleType:
    """Import the sibling helper by path (pytest runs with --import-mode=importlib)."""
    path = Path(__file__).with_name("standin_sdk.py")
    spec = importlib.util.spec_from_file_location("kmodkit_tests_standin_sdk", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


standin = _load_standin()

PACKAGES = ["kmod-nf-flow", "kmod-nft-offload"]
FEED = {"nf-flow": "nf-flow", "nft-offload": "nft-offload"}
SEED = (
    "CONFIG_TARGET_x86=y\nCONFIG_TARGET_x86_64=y\n# CONFIG_ALL is not set\n"
    "# CONFIG_ALL_KMODS is not set\nCONFIG_PACKAGE_kmod-nf-flow=m\n"
    "CONFIG_PACKAGE_kmod-nft-offload=m\n"
)


def _build(tmp_path: Path, options: object = None, **kwargs: object) -> tuple[Path, SdkMakeResult]:
    sdk = standin.make_standin_sdk(tmp_path, options)
    feed = standin.make_standin_feed(tmp_path, FEED)
    args: dict[str, object] = {
        "feed_dir": feed,
        "packages": PACKAGES,
        "seed_config": SEED,
        "board": "x86",
        "subtarget": "64",
        "jobs": 3,
        "log_dir": tmp_path / "logs",
        "env": {"SOURCE_DATE_EPOCH": "1700000000"},
    }
    args.update(kwargs)
    return sdk, run_sdk_make(sdk, **args)  # type: ignore[arg-type]


def test_standin_sdk_build_runs_the_openwrt_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAKEFLAGS", "-k BOGUS=1")
    monkeypatch.setenv("KMODKIT_STANDIN_LEAK", "1")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    seen: list[str] = []
    sdk, result = _build(tmp_path, progress=seen.append)

    expected = [
        ["./scripts/feeds", "update", "kmodkit"],
        ["./scripts/feeds", "install", "-f", "-p", "kmodkit", *PACKAGES],
        ["make", "defconfig"],
        ["make", "package/nf-flow/compile", "V=s", "-j3"],
        ["make", "package/nft-offload/compile", "V=s", "-j3"],
    ]
    assert result.commands == expected
    calls = standin.recorded_calls(sdk)
    assert [c["argv"] for c in calls] == [
        expected[0],
        expected[1],
        ["make", "defconfig"],
        ["make", "package/nf-flow/compile", "V=s"],
        ["make", "package/nft-offload/compile", "V=s"],
    ]
    for call in calls:
        assert call["cwd"] == str(sdk.resolve())
        env = call["env"]
        assert env["LC_ALL"] == "C" and env["SOURCE_DATE_EPOCH"] == "1700000000"
        assert "KMODKIT_STANDIN_LEAK" not in env
        assert "BOGUS" not in env.get("MAKEFLAGS", "")
    assert "-j3" in calls[3]["env"]["MAKEFLAGS"]

    feed = (tmp_path / "feed").resolve()
    assert (sdk / "feeds.conf").read_text() == standin.FEEDS_CONF_DEFAULT + (
        f"src-link kmodkit {feed}\n"
    )
    assert (sdk / "feeds.conf.default").read_text() == standin.FEEDS_CONF_DEFAULT
    # defconfig passed the seed through: the =m lines survive.
    assert "CONFIG_PACKAGE_kmod-nft-offload=m" in (sdk / ".config").read_text()
    packages_dir = sdk.resolve() / "bin/targets/x86/64/packages"
    assert result.artifacts == [
        packages_dir / "kmod-nf-flow_6.6.93-r1_x86_64.ipk",
        packages_dir / "kmod-nft-offload_6.6.93-r1_x86_64.ipk",
    ]
    assert [p.name for p in result.logs] == [
        "01-feeds-update.log",
        "02-feeds-install.log",
        "03-defconfig.log",
        "04-compile-nf-flow.log",
        "05-compile-nft-offload.log",
    ]
    assert "Installing package 'nft-offload'" in result.logs[1].read_text()
    assert len(seen) == 5 and "make defconfig" in seen[2]


def test_rerun_replaces_the_kmodkit_feed_line_and_keeps_user_feeds(tmp_path: Path) -> None:
    sdk, _ = _build(tmp_path)
    conf = sdk / "feeds.conf"
    conf.write_text(conf.read_text() + "src-link mine /opt/my-feed\n")
    run_sdk_make(
        sdk,
        feed_dir=tmp_path / "feed",
        packages=["kmod-nf-flow"],
        seed_config=SEED,
        board="x86",
        subtarget="64",
        jobs=1,
        log_dir=tmp_path / "logs2",
    )
    lines = conf.read_text().splitlines()
    assert [ln for ln in lines if " kmodkit " in ln] == [
        f"src-link kmodkit {(tmp_path / 'feed').resolve()}"
    ]
    assert "src-link mine /opt/my-feed" in lines
    assert "SOURCE_DATE_EPOCH" not in standin.recorded_calls(sdk)[-1]["env"]


def test_not_an_sdk_is_one_line_kernel_tree_error(tmp_path: Path) -> None:
    (tmp_path / "rules.mk").write_text("")
    with pytest.raises(KernelTreeError) as err:
        run_sdk_make(
            tmp_path,
            feed_dir=tmp_path,
            packages=["kmod-x"],
            seed_config="",
            board="x86",
            subtarget="64",
            jobs=1,
            log_dir=tmp_path / "logs",
        )
    text = str(err.value)
    assert "\n" not in text and "not an OpenWrt SDK" in text
    assert "scripts/feeds" in text and str(tmp_path) in text


def test_defconfig_dropping_a_package_names_it_and_the_cause(tmp_path: Path) -> None:
    options = standin.StandinOptions(drop=["kmod-nft-offload"])
    with pytest.raises(BuildError) as err:
        _build(tmp_path, options)
    text = str(err.value)
    assert "make defconfig dropped kmod-nft-offload" in text
    assert "is n, wanted m" in text and "unmet dependency" in text
    assert err.value.log and err.value.log.endswith("03-defconfig.log")
    # nothing was compiled after the failed check
    sdk = tmp_path / "standin-sdk"
    assert [c["argv"][1] for c in standin.recorded_calls(sdk)][-1] == "defconfig"


def test_package_missing_from_feed_is_reported_as_not_installed(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as err:
        _build(tmp_path, packages=["kmod-nf-flow", "kmod-nope"])
    assert "the SDK does not know kmod-nope" in str(err.value)
    assert "feeds install did not install it" in str(err.value)


def test_compile_failure_carries_the_log_tail(tmp_path: Path) -> None:
    options = standin.StandinOptions(fail_compile=["nft-offload"])
    with pytest.raises(BuildError) as err:
        _build(tmp_path, options)
    text = str(err.value)
    assert "compile-nft-offload failed (exit 2)" in text  # make reports the recipe's failure
    assert "make package/nft-offload/compile V=s -j3" in text
    assert "ERROR: package/feeds/kmodkit/nft-offload failed to build." in text
    assert "compile line 30" in text and "compile line 10 |" not in text
    assert "\n" not in text  # one line, as every kmodkit error
    assert err.value.log and Path(err.value.log).name == "05-compile-nft-offload.log"


def test_missing_artifact_names_package_and_directory(tmp_path: Path) -> None:
    options = standin.StandinOptions(no_artifact=["kmod-nf-flow"])
    with pytest.raises(BuildError) as err:
        _build(tmp_path, options)
    text = str(err.value)
    assert "no package file for kmod-nf-flow" in text
    assert "bin/targets/x86/64/packages" in text


def test_apk_artifacts_are_collected(tmp_path: Path) -> None:
    options = standin.StandinOptions(format="apk", version="6.12.94-r1")
    _, result = _build(tmp_path, options)
    assert [p.name for p in result.artifacts] == [
        "kmod-nf-flow-6.12.94-r1.apk",
        "kmod-nft-offload-6.12.94-r1.apk",
    ]


def test_update_all_offline_fails_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as err:
        _build(tmp_path, update_all_feeds=True)
    text = str(err.value)
    assert "./scripts/feeds update -a" in text and "without network" in text
    assert "failed." in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"packages": []}, "no package"),
        ({"packages": ["-a"]}, "not an OpenWrt package name"),
        ({"jobs": 0}, "jobs must be at least 1"),
    ],
)
def test_bad_arguments_are_usage_errors(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        _build(tmp_path, **kwargs)


def test_missing_feed_dir_is_a_build_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="feed directory does not exist"):
        _build(tmp_path, feed_dir=tmp_path / "nowhere")


def test_render_feeds_conf_keeps_comments_and_drops_old_kmodkit() -> None:
    base = "# comment\nsrc-git base https://x;v1\nsrc-link kmodkit /old  # mine\n\n"
    assert render_feeds_conf(base, Path("/new-feed")) == (
        "# comment\nsrc-git base https://x;v1\nsrc-link kmodkit /new-feed\n"
    )
    assert render_feeds_conf("", Path("/f")) == "src-link kmodkit /f\n"


def test_index_parser() -> None:
    index = (
        "Source-Makefile: feeds/kmodkit/nft-offload/Makefile\nPackage: kmod-nft-offload\n"
        "Source-Makefile: feeds/kmodkit/nf-flow/Makefile\nPackage: kmod-nf-flow\n"
    )
    assert source_dirs_from_index(index) == {
        "kmod-nft-offload": "nft-offload",
        "kmod-nf-flow": "nf-flow",
    }


def test_find_artifact_does_not_confuse_prefixes(tmp_path: Path) -> None:
    for name in ("kmod-nf-flow-extra_1-r1_x86_64.ipk", "kmod-nf-flow-extra-1.0-r1.apk"):
        (tmp_path / name).write_text("")
    assert find_artifact([tmp_path], "kmod-nf-flow") is None
    (tmp_path / "kmod-nf-flow-6.6.1-r1.apk").write_text("")
    assert find_artifact([tmp_path / "absent", tmp_path], "kmod-nf-flow") == (
        tmp_path / "kmod-nf-flow-6.6.1-r1.apk"
    )
