"""opkg version order: known dpkg cases, OpenWrt's kernel versions and order properties."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats.opkg_version import compare_versions, satisfies

KNOWN_LESS = [
    ("1.0~rc1", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0+"),  # letters before other symbols
    ("1.0", "1.0.1"),
    ("1.9", "1.10"),
    ("1.0-1", "1.0-2"),
    ("1.0-9", "1.0-10"),
    ("9:1.0", "10:0.1"),
    ("2.0", "1:1.0"),
    ("6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1", "6.6.93-r1"),
    ("6.6.93-r1", "6.6.94~0000-r1"),
    ("5.15.137-1", "5.15.137-1-db5fae317c7dec03ba9a83c32ababa81"),
    ("1.0-r1", "1.0-r2"),
]


@pytest.mark.parametrize(("low", "high"), KNOWN_LESS)
def test_known_order(low: str, high: str) -> None:
    assert compare_versions(low, high) == -1
    assert compare_versions(high, low) == 1


@pytest.mark.parametrize(
    ("a", "b"), [("1.0", "1.00"), ("0:1.0", "1.0"), ("1.01-1", "1.1-01"), ("", "")]
)
def test_equal(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0


def test_satisfies_all_operators() -> None:
    kernel = "6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1"
    assert satisfies(kernel, "=", kernel)
    assert not satisfies("6.6.93-r1", "=", kernel)
    assert satisfies("1.0", "<<", "1.1") and not satisfies("1.1", "<<", "1.1")
    assert satisfies("1.1", "<=", "1.1") and satisfies("1.1", "<", "1.1")  # legacy < is <=
    assert satisfies("1.1", ">=", "1.1") and satisfies("1.1", ">", "1.1")  # legacy > is >=
    assert satisfies("1.2", ">>", "1.1") and not satisfies("1.1", ">>", "1.1")
    with pytest.raises(FormatError):
        satisfies("1", "!=", "1")
    with pytest.raises(FormatError, match="epoch"):
        compare_versions("x:1", "1")


_part = st.text(alphabet="0123456789.+~abz", min_size=0, max_size=6)
versions = st.builds(
    lambda epoch, up, rev: (
        (f"{epoch}:" if epoch is not None else "") + up + (f"-{rev}" if rev else "")
    ),
    st.none() | st.integers(0, 3),
    _part,
    st.none() | st.text(alphabet="0123456789r~.", min_size=1, max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(versions, versions)
def test_antisymmetric(a: str, b: str) -> None:
    assert compare_versions(a, b) == -compare_versions(b, a)
    assert compare_versions(a, a) == 0


@settings(max_examples=200, deadline=None)
@given(versions, versions, versions)
def test_transitive(a: str, b: str, c: str) -> None:
    ordered = sorted([a, b, c], key=_key)
    assert compare_versions(ordered[0], ordered[1]) <= 0
    assert compare_versions(ordered[1], ordered[2]) <= 0
    assert compare_versions(ordered[0], ordered[2]) <= 0


_key = functools.cmp_to_key(compare_versions)
