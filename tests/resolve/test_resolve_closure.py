"""Closure resolution: per-release contents, install order, why, kernel-config awareness."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.catalog import Catalog, load_catalog, lookup_release, lookup_target
from kmodkit.errors import ResolveError
from kmodkit.resolve import Closure, resolve_closure

X86 = lookup_target("x86_64")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def closure(catalog: Catalog, release: str, **kwargs: object) -> Closure:
    rel = lookup_release(release)
    kwargs.setdefault("kernel_version", rel.kernel_series_for(X86))
    return resolve_closure(catalog, "kmod-nft-offload", release=rel, target=X86, **kwargs)  # type: ignore[arg-type]


def test_install_order_puts_dependencies_first(catalog: Catalog) -> None:
    names = closure(catalog, "24.10").names
    assert names[-1] == "kmod-nft-offload"
    for package in closure(catalog, "24.10").packages:
        for dep in package.depends:
            assert names.index(dep) < names.index(package.name), (dep, package.name)


def test_nft_core_depends_per_release(catalog: Catalog) -> None:
    core = {
        r: closure(catalog, r).get("nft-core").depends
        for r in ("21.02", "22.03", "24.10", "snapshot")
    }
    assert core["21.02"] == (
        "kmod-nfnetlink",
        "kmod-nf-reject",
        "kmod-nf-reject6",
        "kmod-nf-conntrack6",
        "kmod-nf-nat",
    )
    assert core["22.03"] == (
        "kmod-nfnetlink",
        "kmod-nf-reject",
        "kmod-nf-reject6",
        "kmod-nf-conntrack6",
        "kmod-nf-nat",
        "kmod-nf-log",
        "kmod-nf-log6",
        "kmod-lib-crc32c",
    )
    assert core["24.10"] == core["22.03"]
    # snapshot: nf-conntrack6 is gone, lib-crc32c only for LINUX_6_12 (x86 runs 6.18)
    assert core["snapshot"] == (
        "kmod-nfnetlink",
        "kmod-nf-reject",
        "kmod-nf-reject6",
        "kmod-nf-nat",
        "kmod-nf-log",
        "kmod-nf-log6",
    )


def test_snapshot_on_6_12_keeps_lib_crc32c(catalog: Catalog) -> None:
    names = closure(catalog, "snapshot", kernel_version="6.12.30").names
    assert "kmod-lib-crc32c" in names and "kmod-nf-conntrack6" not in names


def test_closure_sizes_per_release(catalog: Catalog) -> None:
    assert len(closure(catalog, "21.02").packages) == 10
    for release in ("22.03", "23.05", "24.10", "25.12"):
        assert len(closure(catalog, release).packages) == 15
    assert "kmod-nf-log" not in closure(catalog, "21.02").names


def test_offload_files_by_kernel(catalog: Catalog) -> None:
    new = closure(catalog, "24.10").get("nft-offload")
    assert [f.path for f in new.files] == [
        "net/netfilter/nf_flow_table_inet.ko",
        "net/netfilter/nft_flow_offload.ko",
    ]
    assert new.kconfig == ("CONFIG_NF_FLOW_TABLE_INET", "CONFIG_NFT_FLOW_OFFLOAD")
    old = closure(catalog, "23.05").get("nft-offload")
    assert "net/ipv4/netfilter/nf_flow_table_ipv4.ko" in [f.path for f in old.files]
    assert "CONFIG_NF_FLOW_TABLE_IPV6" in old.kconfig
    assert old.autoload is not None and "nf_flow_table_ipv6" in old.autoload.modules


def test_nf_log_switches_at_5_13(catalog: Catalog) -> None:
    assert [f.module for f in closure(catalog, "22.03").get("nf-log").files] == [
        "nf_log_common",
        "nf_log_ipv4",
    ]
    assert [f.module for f in closure(catalog, "23.05").get("nf-log").files] == ["nf_log_syslog"]
    assert closure(catalog, "23.05").get("nf-log6").empty


def test_nf_conntrack6_is_empty_and_nf_defrag_ipv6_is_nf_conntrack_s(catalog: Catalog) -> None:
    # v21.02.7 include/netfilter.mk:154 adds nf_defrag_ipv6 to NF_CONNTRACK; KCONFIG_NF_CONNTRACK6
    # is empty in every release.
    for release in ("21.02", "22.03", "25.12"):
        result = closure(catalog, release)
        assert result.get("nf-conntrack6").empty
        assert result.get("nf-conntrack6").autoload is None
        assert result.get("nf-conntrack6").kconfig == ()
        conntrack = result.get("nf-conntrack")
        assert "net/ipv6/netfilter/nf_defrag_ipv6.ko" in [f.path for f in conntrack.files]
        assert "CONFIG_NF_DEFRAG_IPV6" in conntrack.kconfig
        assert conntrack.autoload is not None and "nf_defrag_ipv6" in conntrack.autoload.modules


def test_flow_table_hw_only_in_21_02(catalog: Catalog) -> None:
    assert [f.module for f in closure(catalog, "21.02").get("nf-flow").files] == [
        "nf_flow_table",
        "nf_flow_table_hw",
    ]
    assert [f.module for f in closure(catalog, "24.10").get("nf-flow").files] == ["nf_flow_table"]


def test_why_is_the_path_from_the_root(catalog: Catalog) -> None:
    result = closure(catalog, "24.10")
    assert result.why("kmod-crypto-hash") == [
        "kmod-nft-offload",
        "kmod-nft-nat",
        "kmod-nft-core",
        "kmod-lib-crc32c",
        "kmod-crypto-crc32c",
        "kmod-crypto-hash",
    ]
    assert result.why("nft-offload") == ["kmod-nft-offload"]


def test_autoload_files(catalog: Catalog) -> None:
    result = closure(catalog, "24.10")
    probe = result.get("nft-offload").autoload
    assert probe is not None and probe.path == "/etc/modules.d/nft-offload"
    assert probe.content() == "nf_flow_table_inet\nnft_flow_offload\n"
    assert probe.boot_symlink() is None
    crc = result.get("crypto-crc32c").autoload
    assert crc is not None and crc.filename == "04-crypto-crc32c"
    assert crc.boot_symlink() == (
        "/etc/modules-boot.d/04-crypto-crc32c",
        "../modules.d/04-crypto-crc32c",
    )


def test_without_ipv6_the_offload_package_is_unavailable(catalog: Catalog) -> None:
    with pytest.raises(ResolveError, match="depends on IPV6"):
        closure(catalog, "24.10", symbols=["!IPV6"])


def test_without_ipv6_conditional_deps_drop(catalog: Catalog) -> None:
    rel = lookup_release("24.10")
    result = resolve_closure(catalog, "kmod-nft-core", release=rel, target=X86, symbols=["!IPV6"])
    assert "kmod-nf-reject6" not in result.names and "kmod-nf-log6" not in result.names


DISTRO_LIKE = {
    "CONFIG_NETFILTER": "y",
    "CONFIG_NF_CONNTRACK": "m",
    "CONFIG_NF_DEFRAG_IPV4": "m",
    "CONFIG_NF_DEFRAG_IPV6": "m",
    "CONFIG_NF_FLOW_TABLE": "m",
    "CONFIG_NF_FLOW_TABLE_INET": "m",
    "CONFIG_NFT_FLOW_OFFLOAD": "m",
    "CONFIG_NF_TABLES": "m",
    "CONFIG_NFT_CT": "m",
    "CONFIG_NFT_NAT": "m",
    "CONFIG_NFT_MASQ": "m",
    "CONFIG_NF_NAT": "m",
    "CONFIG_NETFILTER_NETLINK": "m",
    "CONFIG_NF_REJECT_IPV4": "m",
    "CONFIG_NF_REJECT_IPV6": "m",
    "CONFIG_NF_LOG_SYSLOG": "m",
    "CONFIG_LIBCRC32C": "m",
    "CONFIG_CRYPTO_CRC32C": "m",
    "CONFIG_CRYPTO_HASH": "y",
    "CONFIG_NFT_REJECT": "m",
}


def test_kernel_config_marks_builtin_absent_and_empty(catalog: Catalog) -> None:
    result = closure(catalog, "24.10", kernel_version="6.1.140", kernel_config=DISTRO_LIKE)
    hash_pkg = result.get("crypto-hash")
    assert [f.status for f in hash_pkg.files] == ["builtin"]
    assert hash_pkg.installed_files == ()
    core = result.get("nft-core")
    status = {f.module: f.status for f in core.files}
    assert status["nf_tables"] == "module" and status["nft_counter"] == "absent"
    assert core.autoload is not None and "nft_counter" not in core.autoload.modules
    assert "nft_ct" in core.autoload.modules


def test_package_whose_symbols_are_all_absent_is_empty(catalog: Catalog) -> None:
    config = {k: v for k, v in DISTRO_LIKE.items() if k != "CONFIG_NF_LOG_SYSLOG"}
    result = closure(catalog, "24.10", kernel_version="6.1.140", kernel_config=config)
    log = result.get("nf-log")
    assert log.empty and "CONFIG_NF_LOG_SYSLOG" in log.empty_reason


def test_missing_required_module_is_an_error(catalog: Catalog) -> None:
    # nft-offload lists its FILES unconditionally: kernel.mk stops on a missing one
    config = dict(DISTRO_LIKE, CONFIG_NF_FLOW_TABLE_INET="n")
    with pytest.raises(
        ResolveError, match=r"nf_flow_table_inet\.ko of kmod-nft-offload is missing"
    ):
        closure(catalog, "24.10", kernel_version="6.1.140", kernel_config=config)


def test_nf_add_files_are_only_packed_where_their_symbol_is_m(catalog: Catalog) -> None:
    # FILES:=$(foreach mod,$(NF_CONNTRACK-m),...): a module the kernel lacks is simply not listed
    config = dict(DISTRO_LIKE, CONFIG_NF_DEFRAG_IPV6="n")
    result = closure(catalog, "24.10", kernel_version="6.1.140", kernel_config=config)
    conntrack = result.get("nf-conntrack")
    assert [f.module for f in conntrack.installed_files] == ["nf_conntrack", "nf_defrag_ipv4"]
    assert conntrack.autoload is not None
    assert conntrack.autoload.modules == ("nf_conntrack", "nf_defrag_ipv4")


def test_modules_builtin_list_wins(catalog: Catalog) -> None:
    result = closure(catalog, "24.10", kernel_config=DISTRO_LIKE, builtin_modules={"nf_conntrack"})
    assert result.get("nf-conntrack").files[0].status == "builtin"


def test_cycle_detected_by_resolver(tmp_path: Path) -> None:
    # a user feed can only add cycles the loader would reject; check the resolver's own guard
    catalog = load_catalog()
    spec = catalog.get("nf-conntrack")
    from dataclasses import replace

    from kmodkit.catalog import Item

    looped = replace(spec, depends=(Item("+kmod-nft-offload"),))
    cyclic = Catalog({**catalog.specs, spec.package: looped}, catalog.release_names)
    with pytest.raises(ResolveError, match="dependency cycle: kmod-nft-offload -> kmod-nf-flow"):
        resolve_closure(cyclic, "kmod-nft-offload", release=lookup_release("24.10"), target=X86)


def test_modules_d_for_partially_built_packages(catalog: Catalog) -> None:
    flow = closure(catalog, "24.10").get("nf-flow")
    # only modules the built feed ships are listed (nf_flow_table_hw needs OpenWrt's patches)
    assert flow.present_autoload_modules({"nf_flow_table"}) == ("nf_flow_table",)
    both = {"nf_flow_table", "nf_flow_table_hw"}
    assert flow.present_autoload_modules(both) == ("nf_flow_table", "nf_flow_table_hw")
    core = closure(catalog, "24.10").get("nft-core")
    assert core.render_modules_d({"nf_tables", "nft_ct"}) == "nf_tables\nnft_ct\n"
    assert closure(catalog, "24.10").get("nf-conntrack").extra_files[0].data.startswith(b"# ")


def test_release_compat_accessors() -> None:
    from kmodkit.catalog import all_releases

    rel = lookup_release("23.05")
    assert (rel.source, rel.source_name_for("kmod-x"), rel.ipk_installed_size) == (
        "package/kernel/linux",
        "kmod-x",
        "data.tar.gz",
    )
    assert [r.name for r in all_releases()][-1] == "snapshot"
