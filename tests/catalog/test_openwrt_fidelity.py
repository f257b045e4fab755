"""The bundled catalog says what OpenWrt's own makefiles say (issue 9's audit, one fact each).

Each test names the OpenWrt file and line it follows (tags of openwrt/openwrt; ``main`` is
commit e9a6e45556, 2026-08-05). ``catalog.import --diff`` re-checks all of them against a real
tree (tests/catalog/test_openwrt_import_real.py, opt-in).
"""

from __future__ import annotations

import pytest

from kmodkit.catalog import Catalog, load_catalog, lookup_release, lookup_target
from kmodkit.render.configin import render_config_in
from kmodkit.resolve import Closure, resolve_closure

X86 = lookup_target("x86_64")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def chain(catalog: Catalog, release: str, target: str = "x86_64") -> Closure:
    rel, tgt = lookup_release(release), lookup_target(target)
    return resolve_closure(
        catalog,
        "kmod-nft-offload",
        release=rel,
        target=tgt,
        kernel_version=rel.kernel_series_for(tgt),
    )


def test_1_nf_defrag_ipv6_belongs_to_nf_conntrack_in_21_02(catalog: Catalog) -> None:
    # v21.02.7 include/netfilter.mk:154
    #   $(call nf_add,NF_CONNTRACK,CONFIG_NF_DEFRAG_IPV6, $(P_V6)nf_defrag_ipv6)
    result = chain(catalog, "21.02")
    conntrack, conntrack6 = result.get("nf-conntrack"), result.get("nf-conntrack6")
    assert conntrack.kconfig[-1] == "CONFIG_NF_DEFRAG_IPV6"
    assert [f.module for f in conntrack.files][-1] == "nf_defrag_ipv6"
    assert conntrack.autoload is not None and "nf_defrag_ipv6" in conntrack.autoload.modules
    assert (conntrack6.kconfig, conntrack6.files, conntrack6.autoload) == ((), (), None)


NFT_CORE_KCONFIG = [
    "CONFIG_NFT_COMPAT=n",
    "CONFIG_NFT_QUEUE=n",
    "CONFIG_NF_TABLES",
    "CONFIG_NF_TABLES_SET",
    "CONFIG_NFT_COUNTER",
    "CONFIG_NFT_CT",
    "CONFIG_NFT_HASH",
    "CONFIG_NFT_LIMIT",
    "CONFIG_NFT_LOG",
    "CONFIG_NFT_META",
    "CONFIG_NFT_NUMGEN",
    "CONFIG_NFT_OBJREF",
    "CONFIG_NFT_QUOTA",
    "CONFIG_NFT_REDIR",
    "CONFIG_NFT_REJECT",
    "CONFIG_NFT_REJECT_INET",
]


@pytest.mark.parametrize("release", ["21.02", "22.03", "23.05", "24.10", "25.12", "snapshot"])
def test_2_nft_core_kconfig_is_openwrt_s(catalog: Catalog, release: str) -> None:
    # v24.10.7 package/kernel/linux/modules/netfilter.mk:1141-1144 (KCONFIG:= CONFIG_NFT_COMPAT=n
    # CONFIG_NFT_QUEUE=n $(KCONFIG_NFT_CORE)) and include/netfilter.mk:317-330 (the nf_add list;
    # v21.02.7 include/netfilter.mk:311-324 is the same)
    core = chain(catalog, release).get("nft-core")
    assert list(core.kconfig) == NFT_CORE_KCONFIG
    modules = [f.module for f in core.files]
    assert modules[:3] == ["nf_tables", "nf_tables_set", "nft_counter"]
    assert all(f.optional for f in core.files)  # FILES:=$(foreach mod,$(NFT_CORE-m),...)


def test_2_21_02_packs_nf_tables_set_where_the_kernel_has_it(catalog: Catalog) -> None:
    rel = lookup_release("21.02")
    config = {s: "m" for s in NFT_CORE_KCONFIG if "=" not in s}
    result = resolve_closure(
        catalog,
        "kmod-nft-core",
        release=rel,
        target=X86,
        kernel_version="5.4.238",
        kernel_config={**config, "CONFIG_NF_CONNTRACK": "m", "CONFIG_NF_NAT": "m"},
    )
    installed = [f.module for f in result.get("nft-core").installed_files]
    assert "nf_tables_set" in installed and "nft_meta" in installed


@pytest.mark.parametrize("release", ["23.05", "24.10", "25.12", "snapshot"])
def test_3_nf_log_kconfig_keeps_every_nf_add_symbol(catalog: Catalog, release: str) -> None:
    # v23.05.6 include/netfilter.mk:173-175: nf_add puts the symbol in KCONFIG_NF_LOG outside
    # the "lt 5.13" / "ge 5.13" file gate
    log = chain(catalog, release).get("nf-log")
    assert log.kconfig == ("CONFIG_NF_LOG_COMMON", "CONFIG_NF_LOG_IPV4", "CONFIG_NF_LOG_SYSLOG")
    assert [f.module for f in log.files] == ["nf_log_syslog"]


def test_3_22_03_has_no_nf_log_syslog(catalog: Catalog) -> None:
    # v22.03.7 include/netfilter.mk:174-175
    log = chain(catalog, "22.03").get("nf-log")
    assert log.kconfig == ("CONFIG_NF_LOG_COMMON", "CONFIG_NF_LOG_IPV4")


@pytest.mark.parametrize("release", ["23.05", "24.10", "25.12", "snapshot"])
def test_4_nf_log6_kconfig(catalog: Catalog, release: str) -> None:
    # v23.05.6 include/netfilter.mk:176 ... CONFIG_NF_LOG_IPV6, $(P_V6)nf_log_ipv6,lt 5.13
    log6 = chain(catalog, release).get("nf-log6")
    assert log6.kconfig == ("CONFIG_NF_LOG_IPV6",)
    assert log6.files == () and log6.empty


def test_5_crypto_hash_kconfig(catalog: Catalog) -> None:
    # v24.10.7 package/kernel/linux/modules/crypto.mk:348  KCONFIG:=CONFIG_CRYPTO_HASH
    assert chain(catalog, "24.10").get("crypto-hash").kconfig == ("CONFIG_CRYPTO_HASH",)


@pytest.mark.parametrize("release", ["22.03", "24.10", "25.12"])
def test_6_crypto_packages_are_not_hidden(catalog: Catalog, release: str) -> None:
    # v24.10.7 package/kernel/linux/modules/crypto.mk:154-161 (crypto-crc32c) and :346-352
    # (crypto-hash) have no HIDDEN:=1, so menuconfig shows a prompt for both
    result = chain(catalog, release)
    text = render_config_in(result)
    for name in ("kmod-crypto-hash", "kmod-crypto-crc32c"):
        assert not result.get(name).hidden
        assert f'\tconfig PACKAGE_{name}\n\t\ttristate "{name}.' in text
        assert "default m if ALL||ALL_NONSHARED||ALL_KMODS" in text


def test_7_snapshot_lib_crc32c_depends_on_linux_6_12(catalog: Catalog) -> None:
    # main package/kernel/linux/modules/lib.mk:94  DEPENDS:=@LINUX_6_12 +kmod-crypto-crc32c
    result = chain(catalog, "snapshot", "lantiq/xrx200")  # still on 6.12 in main
    crc = result.get("lib-crc32c")
    assert crc.depends_spec == ("@LINUX_6_12", "+kmod-crypto-crc32c")
    text = render_config_in(result)
    entry = text.split("config PACKAGE_kmod-lib-crc32c\n", 1)[1].split("help", 1)[0]
    assert "depends on LINUX_6_12" in entry
    assert chain(catalog, "25.12").get("lib-crc32c").depends_spec == ("+kmod-crypto-crc32c",)


@pytest.mark.parametrize(
    ("target", "series", "count"),
    [
        ("x86/64", "6.18", 11),
        ("ramips/mt7621", "6.18", 11),
        ("mediatek/filogic", "6.18", 11),
        ("mvebu/cortexa9", "6.18", 11),
        ("rockchip/armv8", "6.18", 11),
        ("ipq40xx/generic", "6.18", 11),
        ("sunxi/cortexa7", "6.18", 11),
        ("ath79/generic", "6.18", 11),
        ("lantiq/xrx200", "6.12", 14),
        ("bcm27xx/bcm2711", "6.12", 14),
    ],
)
def test_8_snapshot_kernel_is_per_target(
    catalog: Catalog, target: str, series: str, count: int
) -> None:
    # main target/linux/ramips/Makefile:13 KERNEL_PATCHVER:=6.18 (x86:13, ath79:11 likewise);
    # target/linux/lantiq/Makefile:12 KERNEL_PATCHVER:=6.12
    assert lookup_release("snapshot").kernel_series_for(lookup_target(target)) == series
    names = chain(catalog, "snapshot", target).names
    assert len(names) == count
    assert ("kmod-lib-crc32c" in names) == (series == "6.12")


@pytest.mark.parametrize(
    ("release", "source"),
    [
        ("23.05", "package/kernel/linux"),
        ("23.05.4", "package/kernel/linux"),
        ("23.05.5", "feeds/base/kernel/linux"),
        ("23.05.6", "feeds/base/kernel/linux"),
        ("22.03.7", "package/kernel/linux"),
        ("24.10.0", "feeds/base/kernel/linux"),
    ],
)
def test_9_source_field_is_point_release_aware(release: str, source: str) -> None:
    # v23.05.5 include/package-defaults.mk:23
    #   SOURCE:=$(patsubst $(TOPDIR)/%,%,$(patsubst $(TOPDIR)/package/%,feeds/base/%,$(CURDIR)))
    # (v23.05.4 line 23 has no feeds/base mapping)
    assert lookup_release(release).source == source


def test_9_a_release_branch_has_every_point_release_change() -> None:
    # the openwrt-23.05 branch (include/version.mk: 23.05-SNAPSHOT) is past v23.05.5
    head = lookup_release("23.05").branch_head()
    assert (head.name, head.point, head.source) == (
        "23.05",
        "23.05-SNAPSHOT",
        "feeds/base/kernel/linux",
    )
    assert lookup_release("24.10").branch_head().source == "feeds/base/kernel/linux"


def test_10_snapshot_gcc() -> None:
    # main toolchain/gcc/Config.version:14  default "14.4.0"
    assert lookup_release("snapshot").gcc == "14.4.0"
    assert lookup_release("25.12").gcc == "14.3.0"


def test_snapshot_nf_flow_depends_on_nft_core(catalog: Catalog) -> None:
    # main package/kernel/linux/modules/netfilter.mk:215  DEPENDS:=+kmod-nf-conntrack +kmod-nft-core
    # (since openwrt commit b837748095, 2026-08-01; main of 2026-07-18 does not have it)
    assert chain(catalog, "snapshot").get("nf-flow").depends_spec == (
        "+kmod-nf-conntrack",
        "+kmod-nft-core",
    )
    assert chain(catalog, "25.12").get("nf-flow").depends_spec == ("+kmod-nf-conntrack",)


def test_21_02_nft_nat_lists_the_per_family_modules(catalog: Catalog) -> None:
    # v21.02.7 include/netfilter.mk:329-333 (NFT_REDIR_IPV4, NFT_MASQ_IPV4)
    nat = chain(catalog, "21.02").get("nft-nat")
    assert nat.kconfig == (
        "CONFIG_NFT_NAT",
        "CONFIG_NFT_REDIR_IPV4",
        "CONFIG_NFT_MASQ",
        "CONFIG_NFT_MASQ_IPV4",
    )
    assert "CONFIG_NFT_MASQ_IPV4" not in chain(catalog, "22.03").get("nft-nat").kconfig


def test_lib_crc32c_description(catalog: Catalog) -> None:
    # v24.10.7 package/kernel/linux/modules/lib.mk:94-96
    assert chain(catalog, "24.10").get("lib-crc32c").description == (
        "Kernel module for CRC32 support"
    )
