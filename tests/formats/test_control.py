"""Control stanzas: real OpenWrt files round-trip, OpenWrt's field order, dependency syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.errors import FormatError
from kmodkit.formats.control import (
    DependencyItem,
    control_fields_for,
    format_control,
    format_depends,
    meta_from_fields,
    parse_control,
    parse_depends,
)
from kmodkit.formats.model import PackageMeta


def test_real_third_party_control_round_trips(testdata: Path) -> None:
    text = (testdata / "ipk" / "third-party-23.05-dnsmasq-full.control").read_text()
    fields = parse_control(text, "dnsmasq.control")
    keys = [key for key, _ in fields]
    assert keys[:3] == ["Package", "Version", "Depends"]
    assert dict(fields)["Require-User"] == "dnsmasq=453:dnsmasq=453"
    description = dict(fields)["Description"]
    assert description.startswith("It is intended to provide coupled DNS and DHCP service")
    assert "\n\nThis is a fully configurable variant" in description  # the " " paragraph line
    assert format_control(fields) == text
    meta = meta_from_fields(fields)
    assert meta.provides == ("dnsmasq",) and meta.source_date_epoch == 1722691115
    assert meta.cpe_id == "cpe:/a:thekelleys:dnsmasq"


def test_openwrt_field_order_and_two_space_description() -> None:
    meta = PackageMeta(
        name="kmod-nft-offload",
        version="6.6.93-r1",
        arch="x86_64",
        description="Netfilter nf_tables routing/NAT offload support\n  second line",
        depends=("kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1)", "kmod-nf-flow"),
        provides=("kmod-nft-offload-any",),
        source="feeds/base/kernel/linux",
        source_name="kernel",
        source_date_epoch=1735689600,
    )
    fields = control_fields_for(meta, 10240)
    assert [key for key, _ in fields] == [
        "Package",
        "Version",
        "Depends",
        "Provides",
        "Source",
        "SourceName",
        "License",
        "Section",
        "SourceDateEpoch",
        "Architecture",
        "Installed-Size",
        "Description",
    ]
    text = format_control(fields)
    assert text.endswith(
        "Installed-Size: 10240\n"
        "Description:  Netfilter nf_tables routing/NAT offload support\n second line\n"
    )
    assert "Depends: kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1), kmod-nf-flow\n" in text
    assert meta_from_fields(parse_control(text, "c")).depends == meta.depends


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" leading continuation\n", "line 1: continuation"),
        ("Package: a\nno colon here\n", "line 2: expected 'Field: value'"),
        ("Package: a\n\nVersion: 1\n", "line 2: blank line"),
        ("Bad Key: x\n", "line 1"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_control(text, "x.control")


def test_parse_depends_alternatives_and_versions() -> None:
    groups = parse_depends("a (>= 1.0) | b, c,kernel (=6.6.93~abc-r1) , d(<<2)")
    assert groups == [
        [DependencyItem("a", ">=", "1.0"), DependencyItem("b")],
        [DependencyItem("c")],
        [DependencyItem("kernel", "=", "6.6.93~abc-r1")],
        [DependencyItem("d", "<<", "2")],
    ]
    assert format_depends(groups) == "a (>=1.0) | b, c, kernel (=6.6.93~abc-r1), d (<<2)"
    assert parse_depends("") == [] and parse_depends("a,,b") == [
        [DependencyItem("a")],
        [DependencyItem("b")],
    ]


@pytest.mark.parametrize("bad", ["a (>= )", "a (~ 1)", "a b", "| a", "a (>=1"])
def test_parse_depends_rejects_garbage(bad: str) -> None:
    with pytest.raises(FormatError, match="malformed dependency"):
        parse_depends(bad)
