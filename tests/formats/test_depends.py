"""opkg Depends → apk depends (as OpenWrt's package-pack.mk) and apk dependency parsing."""

from __future__ import annotations

import pytest

from kmodkit.errors import FormatError
from kmodkit.formats.depends import ApkDependency, opkg_to_apk_depends, parse_apk_dependency

HASH = "1745ebad77278f5cdc8330d17a3f43d6"


def test_openwrt_kmod_depends() -> None:
    items = [f"kernel (=6.6.93~{HASH}-r1)", "kmod-nf-flow", "kmod-nft-nat"]
    assert opkg_to_apk_depends(items) == [
        f"kernel=6.6.93~{HASH}-r1",
        "kmod-nf-flow",
        "kmod-nft-nat",
    ]


def test_commas_inside_items_and_spacing() -> None:
    assert opkg_to_apk_depends(["libc, libpthread ,librt", "foo ( >= 1.2 )"]) == [
        "libc",
        "libpthread",
        "librt",
        "foo>=1.2",
    ]
    assert opkg_to_apk_depends([]) == []


def test_alternatives_and_bad_versions_are_refused() -> None:
    with pytest.raises(FormatError, match="alternative"):
        opkg_to_apk_depends(["a | b"])
    with pytest.raises(FormatError, match="invalid version"):
        opkg_to_apk_depends(["foo (= 1.0-1)"])


@pytest.mark.parametrize(
    ("text", "dep", "match"),
    [
        ("kmod-nf-flow", ApkDependency("kmod-nf-flow"), 7),
        ("kernel=6.6.93-r1", ApkDependency("kernel", "=", "6.6.93-r1"), 1),
        ("a>=1.0", ApkDependency("a", ">=", "1.0"), 5),
        ("a<=1.0", ApkDependency("a", "<=", "1.0"), 3),
        ("a<1", ApkDependency("a", "<", "1"), 2),
        ("a>1", ApkDependency("a", ">", "1"), 4),
        ("a~1.2", ApkDependency("a", "~", "1.2"), 9),
        ("a><deadbeef", ApkDependency("a", "><", "deadbeef"), 6),
        ("!b", ApkDependency("b", "", None, True), 23),
        ("!b<2", ApkDependency("b", "<", "2", True), 18),
    ],
)
def test_parse_apk_dependency(text: str, dep: ApkDependency, match: int) -> None:
    parsed = parse_apk_dependency(text)
    assert parsed == dep
    assert parsed.match == match
    assert str(parsed) == text


@pytest.mark.parametrize("text", ["", "!", "=1.0", "a=1.0-1", "a=", "a b", "a!b", "a=>x"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(FormatError):
        parse_apk_dependency(text)
