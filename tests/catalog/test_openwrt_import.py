"""catalog.import on a miniature OpenWrt-shaped tree (tests/catalog/openwrt_mini, written for
these tests): real GNU make evaluates its .mk files; specs, diff, write and the round trip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cli_runner import cli_env, run_kmodkit
from kmodkit.catalog import Catalog, load_catalog, lookup_release, lookup_target
from kmodkit.catalog.loader import load_spec
from kmodkit.catalog.openwrt_compare import compare, write_specs
from kmodkit.catalog.openwrt_specs import ImportResult, import_tree
from kmodkit.catalog.tables import release_order
from kmodkit.cli.catalog_import import import_openwrt
from kmodkit.errors import UsageError
from kmodkit.render import render_feed
from kmodkit.resolve import resolve_closure

MINI = Path(__file__).parent / "openwrt_mini"
ROOTS = ["kmod-nft-offload", "kmod-crypto-hash"]


@pytest.fixture(scope="module")
def x86() -> ImportResult:
    return import_tree(MINI, target="x86_64", packages=ROOTS)


@pytest.fixture(scope="module")
def ramips() -> ImportResult:
    return import_tree(MINI, target="ramips/mt7621", packages=ROOTS)


def test_tree_facts_come_from_its_own_files(x86: ImportResult, ramips: ImportResult) -> None:
    # include/version.mk says 24.10.2; target/linux/<board>/Makefile the KERNEL_PATCHVER and
    # include/kernel-<x.y> the full version, all read by make
    assert (x86.release.name, x86.release.point) == ("24.10", "24.10.2")
    assert (x86.patchver, x86.linux_version) == ("6.6", "6.6.93")
    assert (ramips.patchver, ramips.linux_version) == ("5.10", "5.10.201")
    assert x86.source == "feeds/base/kernel/linux"  # the tree's package-defaults.mk mapping
    assert x86.closure.names == [
        "kmod-nf-conntrack",
        "kmod-nf-log",
        "kmod-nft-core",
        "kmod-nf-flow",
        "kmod-nft-offload",
        "kmod-crypto-hash",
    ]


def test_symbol_keyed_lists_become_conditional_files_with_their_symbol(x86: ImportResult) -> None:
    core = x86.specs["kmod-nft-core"]
    assert [(f.path, f.symbol, f.optional) for f in core.files] == [
        ("net/netfilter/nf_tables.ko", "CONFIG_NF_TABLES", True),
        ("net/netfilter/nft_reject.ko", "CONFIG_NFT_REJECT", True),
        ("net/ipv4/netfilter/nft_reject_ipv4.ko", "CONFIG_NFT_REJECT", True),
        ("net/netfilter/nft_counter.ko", "CONFIG_NFT_COUNTER", True),
    ]
    assert [i.text for i in core.kconfig] == [
        "CONFIG_NFT_COMPAT=n",
        "CONFIG_NF_TABLES",
        "CONFIG_NFT_REJECT",
        "CONFIG_NFT_COUNTER",
    ]
    assert [i.text for i in core.depends] == [
        "+kmod-nf-conntrack",
        "+IPV6:kmod-nf-log",
        "+!IPV6:kmod-crypto-hash",
    ]
    assert core.description == "Kernel module support for nftables\n(test tree)"
    flow = x86.specs["kmod-nf-flow"]
    assert [(f.path, f.symbol, f.optional) for f in flow.files] == [
        ("net/netfilter/nf_flow_table.ko", None, False)
    ]


def test_version_gates_follow_the_target_kernel(x86: ImportResult, ramips: ImportResult) -> None:
    # nf_add-style "ge 5.13"/"lt 5.13" gates: files only, KCONFIG keeps both symbols
    for result, module in ((x86, "nf_log_syslog"), (ramips, "nf_log_common")):
        log = result.specs["kmod-nf-log"]
        assert [f.module for f in log.files] == [module]
        assert [i.text for i in log.kconfig] == ["CONFIG_NF_LOG_COMMON", "CONFIG_NF_LOG_SYSLOG"]
    # $(if $(call kernel_patchver_ge,6.1),+kmod-nft-core) in DEPENDS
    assert [i.text for i in x86.specs["kmod-nf-flow"].depends][-1] == "+kmod-nft-core"
    assert [i.text for i in ramips.specs["kmod-nf-flow"].depends] == ["+kmod-nf-conntrack"]


def test_qualifiers_are_kept_and_resolved_per_kernel(
    x86: ImportResult, ramips: ImportResult
) -> None:
    offload = x86.specs["kmod-nft-offload"]
    assert [i.text for i in offload.kconfig][1] == "CONFIG_NF_FLOW_TABLE_IPV4@lt5.17"
    assert offload.files[1].qualifier == "lt5.17"
    assert [m.text for m in offload.autoload.modules][1] == "nf_flow_table_ipv4@lt5.17"  # type: ignore[union-attr]
    assert len(x86.closure.get("nft-offload").files) == 2
    assert len(ramips.closure.get("nft-offload").files) == 3


def test_hidden_default_autoload_and_board_additions(
    x86: ImportResult, ramips: ImportResult
) -> None:
    crypto = x86.specs["kmod-crypto-hash"]
    assert crypto.hidden and crypto.default == "y if PACKAGE_kmod-nft-core"
    assert crypto.autoload is not None
    assert (crypto.autoload.kind, crypto.autoload.priority, crypto.autoload.boot) == (
        "load",
        "02",
        True,
    )
    assert [i.text for i in crypto.kconfig] == ["CONFIG_CRYPTO_HASH"]
    # KernelPackage/crypto-hash/ramips adds a symbol on that board only
    assert [i.text for i in ramips.specs["kmod-crypto-hash"].kconfig] == [
        "CONFIG_CRYPTO_HASH",
        "CONFIG_CRYPTO_HASH_INFO",
    ]


def test_written_specs_load_and_match_the_tree(x86: ImportResult, tmp_path: Path) -> None:
    paths = write_specs(x86, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n[5:]}.toml" for n in x86.closure.names)
    names = tuple(release_order())
    for path in paths:
        spec = load_spec(path, names)
        assert spec == _same_origin(x86.specs[spec.package], spec)
    assert compare(x86, load_catalog([tmp_path])) == []


def _same_origin(imported, loaded):  # type: ignore[no-untyped-def]
    """The imported spec as the loader would build it from the written TOML (file, lines and
    the description default differ by construction)."""
    from dataclasses import replace

    return replace(
        imported,
        source_file=loaded.source_file,
        lines=loaded.lines,
        description=imported.description or loaded.description,
    )


def test_diff_names_each_field_that_differs(x86: ImportResult, tmp_path: Path) -> None:
    write_specs(x86, tmp_path)
    spec = tmp_path / "nft-core.toml"
    spec.write_text(spec.read_text().replace('  "CONFIG_NFT_COUNTER",\n', ""), encoding="utf-8")
    (tmp_path / "crypto-hash.toml").write_text(
        (tmp_path / "crypto-hash.toml").read_text().replace("hidden = true\n", ""),
        encoding="utf-8",
    )
    lines = [d.line() for d in compare(x86, load_catalog([tmp_path]))]
    assert lines == [
        "kmod-crypto-hash hidden: OpenWrt 'true' | kmodkit 'false'",
        "kmod-nft-core kconfig: OpenWrt 'CONFIG_NFT_COMPAT=n CONFIG_NFT_COUNTER CONFIG_NFT_REJECT "
        "CONFIG_NF_TABLES' | kmodkit 'CONFIG_NFT_COMPAT=n CONFIG_NFT_REJECT CONFIG_NF_TABLES'",
    ]


def test_diff_against_the_bundled_catalog_reports_source_and_packages(x86: ImportResult) -> None:
    older = import_tree(MINI, target="x86_64", packages=ROOTS, release="23.05.4")
    fields = {(d.package, d.field) for d in compare(older, load_catalog())}
    assert ("*", "Source") in fields  # the tree maps feeds/base; 23.05.4 did not
    assert ("kmod-nft-core", "kconfig") in fields
    assert ("*", "packages") in fields  # the mini chain is smaller than the real one


def test_round_trip_import_generate_evaluate(x86: ImportResult, tmp_path: Path) -> None:
    """import -> TOML -> generate -> the generated Makefiles, evaluated by make with the same
    tree, define the same packages as the tree's own definitions."""
    write_specs(x86, tmp_path / "specs")
    catalog = load_catalog([tmp_path / "specs"])
    closure = resolve_closure(
        catalog, ROOTS, release=x86.release, target=x86.target, kernel_version=x86.linux_version
    )
    render_feed(
        closure,
        flavour="buildroot",
        out_dir=tmp_path / "feed",
        release=x86.release,
        target=x86.target,
    )
    back = import_tree(MINI, target="x86_64", packages=ROOTS, feed=tmp_path / "feed")
    assert back.closure.names == x86.closure.names
    assert compare(back, Catalog(x86.specs, tuple(release_order())), source=False) == []
    assert compare(x86, Catalog(back.specs, tuple(release_order())), source=False) == []
    core = back.specs["kmod-nft-core"]  # $(if $(filter m,$(CONFIG_X)),...) is conditional too
    assert (core.files[0].symbol, core.files[0].optional) == ("CONFIG_NF_TABLES", True)


def test_cli_diff_exit_status(
    x86: ImportResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_specs(x86, tmp_path)
    args = dict(openwrt=str(MINI), release=None, target="x86_64", packages=ROOTS, write=None)
    assert import_openwrt(**args, diff=True, feeds=[str(tmp_path)]) == 0  # type: ignore[arg-type]
    assert "no differences" in capsys.readouterr().out
    assert import_openwrt(**args, diff=True, feeds=[]) == 1  # type: ignore[arg-type]
    assert "kmod-nft-core kconfig:" in capsys.readouterr().out
    out = tmp_path / "written"
    assert import_openwrt(**dict(args, write=str(out)), diff=False, feeds=[]) == 0  # type: ignore[arg-type]
    assert (out / "nft-offload.toml").is_file()


def _cli(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = cli_env() if path is None else cli_env(PATH=path)
    return run_kmodkit("catalog.import", *args, env=env, timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--openwrt", "{tmp}"], "not an OpenWrt tree (no include/kernel.mk)"),
        (["--openwrt", "{mini}", "--package", "kmod-nosuch"], "kmod-nosuch not found in"),
        (["--openwrt", "{mini}", "--target", "sparc/64"], "unknown target 'sparc/64'"),
        (["--openwrt", "{mini}", "--target", "mvebu/cortexa9"], "cannot read the target Makefile"),
        (["--openwrt", "{mini}", "--release", "19.07"], "unknown release '19.07'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    argv = [a.format(tmp=tmp_path, mini=MINI) for a in args]
    proc = _cli(*argv)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_make_missing_is_one_line_exit_2(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "python3"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    proc = _cli("--openwrt", str(MINI), path=str(bin_dir))
    assert proc.returncode == 2, proc.stderr
    assert "GNU make is missing" in proc.stderr and "Traceback" not in proc.stderr


def test_make_errors_name_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(MINI, tree)
    broken = tree / "package/kernel/linux/modules/broken.mk"
    broken.write_text("$(error this tree is broken)\n", encoding="utf-8")
    with pytest.raises(
        UsageError, match=r"GNU make could not evaluate the tree: .*this tree is broken"
    ):
        import_tree(tree)


def test_release_and_target_defaults() -> None:
    assert lookup_release("24.10.2").source == "feeds/base/kernel/linux"
    assert lookup_target("x86_64").board == "x86"


@pytest.mark.parametrize(
    ("number", "name", "point", "source"),
    [
        ("23.05.4", "23.05", "23.05.4", "package/kernel/linux"),
        ("23.05-SNAPSHOT", "23.05", "23.05-SNAPSHOT", "feeds/base/kernel/linux"),
        ("SNAPSHOT", "snapshot", "", "feeds/base/kernel/linux"),
    ],
)
def test_release_comes_from_include_version_mk(
    number: str, name: str, point: str, source: str, tmp_path: Path
) -> None:
    from kmodkit.catalog.openwrt_tree import open_tree

    tree = tmp_path / "tree"
    shutil.copytree(MINI, tree)
    (tree / "include/version.mk").write_text(
        f"VERSION_NUMBER:=$(if $(VERSION_NUMBER),$(VERSION_NUMBER),{number})\n", encoding="utf-8"
    )
    release = open_tree(tree).release(None)
    assert (release.name, release.point, release.source) == (name, point, source)
