"""The bundled catalog, the release/target tables and spec validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.catalog.qualifiers import (
    QualifierError,
    filter_items,
    parse_release_range,
    split_qualifier,
    version_to_num,
)
from kmodkit.errors import SpecError, UsageError

CHAIN = {
    "nft-offload",
    "nf-flow",
    "nft-nat",
    "nft-core",
    "nf-nat",
    "nf-conntrack",
    "nf-conntrack6",
    "nfnetlink",
    "nf-reject",
    "nf-reject6",
    "nf-log",
    "nf-log6",
    "lib-crc32c",
    "crypto-crc32c",
    "crypto-hash",
}


def test_bundled_catalog_holds_the_whole_chain() -> None:
    catalog = load_catalog()
    assert {spec.name for spec in catalog.specs.values()} == CHAIN
    offload = catalog.get("kmod-nft-offload")
    assert offload.title == "Netfilter nf_tables routing/NAT offload support"
    assert offload.submenu == "Netfilter Extensions"
    assert catalog.get("nf-conntrack").extra_files[0].path == "/etc/sysctl.d/11-nf-conntrack.conf"


@pytest.mark.parametrize(
    ("name", "series", "fmt", "scheme", "size", "source", "source_name"),
    [
        ("21.02", "5.4", "ipk", "dash1", "data.tar.gz", "package/kernel/linux", "kmod-x"),
        ("23.05", "5.15", "ipk", "dash1", "data.tar.gz", "package/kernel/linux", "kmod-x"),
        ("24.10", "6.6", "ipk", "r1", "data.tar", "feeds/base/kernel/linux", "kernel"),
        ("25.12", "6.12", "apk", "r1", "data.tar", "feeds/base/kernel/linux", "kernel"),
    ],
)
def test_release_table(
    name: str, series: str, fmt: str, scheme: str, size: str, source: str, source_name: str
) -> None:
    release = lookup_release(name)
    assert (release.kernel_series, release.package_format, release.version_scheme) == (
        series,
        fmt,
        scheme,
    )
    assert release.installed_size_mode == size
    assert release.source_field == source
    assert release.source_name("kmod-x") == source_name


def test_snapshot_kernel_is_per_target_and_point_releases_map() -> None:
    snapshot = lookup_release("snapshot")
    assert snapshot.kernel_series_for(lookup_target("x86/64")) == "6.18"
    assert snapshot.kernel_series_for(lookup_target("lantiq/xrx200")) == "6.12"
    assert lookup_release("24.10").kernel_series_for(lookup_target("ramips/mt7621")) == "6.6"
    assert lookup_release("24.10.2").name == "24.10"
    assert lookup_release("24.10.2").point == "24.10.2"
    with pytest.raises(UsageError, match="unknown release"):
        lookup_release("24.10.x")


@pytest.mark.parametrize("alias", ["x86_64", "x86/64", "x86-64"])
def test_target_aliases(alias: str) -> None:
    target = lookup_target(alias)
    assert (target.name, target.board, target.subtarget) == ("x86/64", "x86", "64")
    assert (target.pkg_arch, target.kernel_arch) == ("x86_64", "x86")
    assert target.symbols == ("TARGET_x86", "TARGET_x86_64")


def test_target_table_architectures() -> None:
    assert lookup_target("ramips/mt7621").pkg_arch == "mipsel_24kc"
    assert lookup_target("mediatek/filogic").kernel_arch == "arm64"
    assert lookup_target("bcm27xx/bcm2712").pkg_arch == "aarch64_cortex-a76"
    assert lookup_target("ipq806x/generic").pkg_arch == "arm_cortex-a15_neon-vfpv4"


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"valid: 21\.02, 22\.03"):
        lookup_release("19.07")
    with pytest.raises(UsageError, match="x86/64"):
        lookup_target("sparc/64")


def _feed(tmp_path: Path, name: str, text: str) -> Path:
    feed = tmp_path / "feed"
    feed.mkdir(exist_ok=True)
    (feed / f"{name}.toml").write_text(text, encoding="utf-8")
    return feed


GOOD = 'title = "Mine"\nsubmenu = "Other modules"\n'


def test_unknown_field_names_file_and_line(tmp_path: Path) -> None:
    feed = _feed(tmp_path, "mine", GOOD + 'kconfig = ["CONFIG_MINE"]\ndependz = []\n')
    with pytest.raises(SpecError) as info:
        load_catalog([feed])
    assert f"{feed / 'mine.toml'}:4" in str(info.value)
    assert "dependz" in str(info.value)


def test_bad_qualifier_names_the_item_line(tmp_path: Path) -> None:
    text = GOOD + 'files = [\n  "net/a.ko",\n  "net/b.ko@before5.4",\n]\n'
    feed = _feed(tmp_path, "mine", text)
    with pytest.raises(SpecError, match=r"mine.toml:5: field 'files\[1\]': bad kernel qualifier"):
        load_catalog([feed])


def test_dependency_on_unknown_package(tmp_path: Path) -> None:
    feed = _feed(tmp_path, "mine", GOOD + 'depends = ["+kmod-nf-flow", "+kmod-nope"]\n')
    with pytest.raises(SpecError, match=r"mine.toml:3: field 'depends\[1\]'.*'kmod-nope'"):
        load_catalog([feed])


def test_cycle_is_a_spec_error(tmp_path: Path) -> None:
    _feed(tmp_path, "a", GOOD + 'depends = ["+kmod-b"]\n')
    feed = _feed(tmp_path, "b", GOOD + 'depends = ["+kmod-a"]\n')
    with pytest.raises(SpecError, match="dependency cycle kmod-a -> kmod-b -> kmod-a"):
        load_catalog([feed])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('releases = ">=19.07"\n', "unknown release '19.07'"),
        ('kconfig = ["NF_X"]\n', "bad kernel symbol"),
        ('depends = ["+IPV6:"]\n', "bad dependency"),
        ('[autoload]\nkind = "sometimes"\n', "kind must be"),
        ('hidden = "yes"\n', "must be true or false"),
        ('files = ["/abs/x.ko"]\n', "relative to the kernel tree"),
    ],
)
def test_other_spec_errors(tmp_path: Path, extra: str, message: str) -> None:
    feed = _feed(tmp_path, "mine", GOOD + extra)
    with pytest.raises(SpecError, match=message):
        load_catalog([feed])


def test_invalid_toml_is_a_spec_error(tmp_path: Path) -> None:
    feed = _feed(tmp_path, "mine", 'title = "x\n')
    with pytest.raises(SpecError, match="invalid TOML"):
        load_catalog([feed])


def test_user_feed_overrides_bundled_spec(tmp_path: Path) -> None:
    feed = _feed(
        tmp_path,
        "nf-flow",
        'title = "My flowtable"\nsubmenu = "Netfilter Extensions"\n'
        'depends = ["+kmod-nf-conntrack"]\nkconfig = ["CONFIG_NF_FLOW_TABLE"]\n'
        'files = ["net/netfilter/nf_flow_table.ko"]\n',
    )
    catalog = load_catalog([feed])
    assert catalog.get("nf-flow").title == "My flowtable"
    assert catalog.get("nf-flow").source_file == feed / "nf-flow.toml"


def test_qualifiers_follow_package_metadata() -> None:
    items = ["a@lt5.17", "b@ge5.13", "c", "d@eq6.6", "e@ne6.6"]
    assert filter_items(items, "6.6") == ["b", "c", "d"]
    assert filter_items(items, "5.15") == ["a", "b", "c", "e"]
    assert filter_items(items, "5.10") == ["a", "c", "e"]
    assert split_qualifier("@IPV6") == ("@IPV6", None)
    with pytest.raises(QualifierError):
        split_qualifier("x.ko@lt")


def test_release_ranges() -> None:
    order = ["21.02", "22.03", "23.05", "24.10", "25.12", "snapshot"]
    rng = parse_release_range(">=22.03,<snapshot", order)
    assert [r for r in order if rng.contains(r, order)] == order[1:5]
    with pytest.raises(QualifierError):
        parse_release_range("~22.03", order)


versions = st.tuples(st.integers(1, 9), st.integers(0, 30))


@settings(max_examples=150, deadline=None)
@given(versions, versions)
def test_lt_and_ge_partition_every_item(have: tuple[int, int], want: tuple[int, int]) -> None:
    patchver, bound = f"{have[0]}.{have[1]}", f"{want[0]}.{want[1]}"
    kept = filter_items([f"x@lt{bound}", f"x@ge{bound}"], patchver)
    assert kept == ["x"]
    assert (version_to_num(patchver) < version_to_num(bound)) == (
        filter_items([f"x@lt{bound}"], patchver) == ["x"]
    )
