"""The kernel fragment against a real kernel's Kconfig (Debian linux-source-6.1 + its .config).

Needs /usr/src/linux-source-6.1.tar.xz (``apt-get install linux-source-6.1``) and the distro
headers' .config; the Kconfig files are unpacked once per session into the kmodkit cache.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.render import render_kernel_fragment, validate_fragment
from kmodkit.render.fragment import parse_config
from kmodkit.render.kconfig_tree import linux_source_tarball, prepare_kconfig_tree
from kmodkit.resolve import resolve_closure

pytestmark = pytest.mark.kernel
SERIES = "6.1"


@pytest.fixture(scope="session")
def kconfig_tree(kmodkit_cache: Path) -> Path:
    if not Path(f"/usr/src/linux-source-{SERIES}.tar.xz").is_file():
        pytest.fail(
            f"/usr/src/linux-source-{SERIES}.tar.xz is missing: "
            f"run `apt-get install linux-source-{SERIES}`"
        )
    return prepare_kconfig_tree(linux_source_tarball(SERIES), kmodkit_cache)


@pytest.fixture(scope="session")
def distro_config() -> Path:
    found = sorted(glob.glob(f"/usr/src/linux-headers-{SERIES}.*-amd64/.config"))
    if not found:
        pytest.fail(
            f"no /usr/src/linux-headers-{SERIES}.*-amd64/.config: "
            f"run `apt-get install linux-headers-amd64`"
        )
    return Path(found[-1])


def distro_fragment() -> str:
    closure = resolve_closure(
        load_catalog(),
        "kmod-nft-offload",
        release=lookup_release("24.10"),
        target=lookup_target("x86_64"),
        kernel_version="6.1.0",
    )
    return render_kernel_fragment(closure)


def test_tree_is_prepared_once_and_patched(kconfig_tree: Path, kmodkit_cache: Path) -> None:
    assert (kconfig_tree / "net" / "netfilter" / "Kconfig").is_file()
    assert kconfig_tree.is_relative_to(kmodkit_cache)
    assert "option modules" in (kconfig_tree / "kernel" / "module" / "Kconfig").read_text()
    assert prepare_kconfig_tree(linux_source_tarball(SERIES), kmodkit_cache) == kconfig_tree


def test_fragment_symbols_exist_and_take_their_values(
    kconfig_tree: Path, distro_config: Path
) -> None:
    fragment = distro_fragment()
    report = validate_fragment(fragment, kconfig_tree, distro_config, arch="x86")
    # OpenWrt's hardware flow-table symbol comes from its own patches, not from Linux 6.1; the
    # others are in OpenWrt's KCONFIG for older kernels (merged into nf_tables / nf_log_syslog).
    assert report.missing == (
        "CONFIG_NFT_COUNTER",
        "CONFIG_NFT_META",
        "CONFIG_NF_FLOW_TABLE_HW",
        "CONFIG_NF_LOG_COMMON",
        "CONFIG_NF_TABLES_SET",
    ), report.summary()
    assert report.mismatched == (), report.summary()
    assert report.passed is False  # a missing symbol is reported, never silently accepted
    assert set(report.builtin_instead) <= {"CONFIG_CRYPTO_HASH"}
    wanted = parse_config(fragment)
    assert report.values["CONFIG_NFT_COMPAT"] == "n" and wanted["CONFIG_NFT_COMPAT"] == "n"
    assert report.values["CONFIG_NFT_FLOW_OFFLOAD"] == "m"
    assert len(report.ok) + len(report.builtin_instead) + 5 == len(wanted)


def test_symbols_of_other_series_are_reported(kconfig_tree: Path, distro_config: Path) -> None:
    fragment = "CONFIG_NF_FLOW_TABLE_IPV4=m\nCONFIG_NF_LOG_COMMON=m\nCONFIG_NFT_FLOW_OFFLOAD=m\n"
    report = validate_fragment(fragment, kconfig_tree, distro_config)
    assert report.missing == ("CONFIG_NF_FLOW_TABLE_IPV4", "CONFIG_NF_LOG_COMMON")
    assert report.ok == ("CONFIG_NFT_FLOW_OFFLOAD",)


def test_impossible_value_is_a_mismatch(kconfig_tree: Path, distro_config: Path) -> None:
    # NF_FLOW_TABLE_INET depends on NF_FLOW_TABLE: both requested, one forced off.
    report = validate_fragment(
        "# CONFIG_NF_FLOW_TABLE is not set\nCONFIG_NF_FLOW_TABLE_INET=m\n",
        kconfig_tree,
        distro_config,
    )
    assert [p.symbol for p in report.mismatched] == ["CONFIG_NF_FLOW_TABLE_INET"]
    assert report.mismatched[0].got == "n"
    assert "NF_FLOW_TABLE" in report.mismatched[0].reason
