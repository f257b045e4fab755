"""apk version validation and ordering (apk-tools src/version.c semantics)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.formats.apk_version import compare, is_valid, satisfies

VALID = [
    "1",
    "1.0",
    "1.0a",
    "1.0_rc1",
    "1.0_p2",
    "1.0-r1",
    "6.6.93~1745ebad-r1",
    "2.0_alpha_beta",
    "0.01",
]
INVALID = [
    "",
    "1.0-1",
    "a1",
    "1.0-r",
    "1..0",
    "1.0_foo",
    "1.0~",
    "1.0~XYZ",
    "1.0a2",
    "1.0-r1-r2",
    "-r1",
]


@pytest.mark.parametrize("v", VALID)
def test_valid(v: str) -> None:
    assert is_valid(v)


@pytest.mark.parametrize("v", INVALID)
def test_invalid(v: str) -> None:
    assert not is_valid(v)


ORDERED = [
    ("1.0_alpha", "1.0_beta"),
    ("1.0_beta", "1.0_pre"),
    ("1.0_pre", "1.0_rc"),
    ("1.0_rc1", "1.0"),
    ("1.0", "1.0_cvs"),
    ("1.0_cvs", "1.0_svn"),
    ("1.0_svn", "1.0_git"),
    ("1.0_git", "1.0_hg"),
    ("1.0_hg", "1.0_p"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0b"),
    ("1.0", "1.0-r1"),
    ("1.0-r1", "1.0-r2"),
    ("1.0-r9", "1.0-r10"),
    ("1.2", "1.10"),
    ("1.0", "1.0.1"),
    ("1.01", "1.1"),
    ("6.6.93~1745ebad-r1", "6.6.93~abc-r1"),
    ("6.6.93~ff-r1", "6.6.94-r1"),
    ("1.0-r1", "1.0~abc"),  # apk: a later token kind sorts first
]


@pytest.mark.parametrize(("a", "b"), ORDERED)
def test_known_order(a: str, b: str) -> None:
    assert compare(a, b) == -1
    assert compare(b, a) == 1


def test_equal_and_satisfies() -> None:
    assert compare("1.0-r1", "1.0-r1") == 0
    assert satisfies("6.6.93-r1", "=", "6.6.93-r1")
    assert satisfies("1.2.3", "~", "1.2")
    assert not satisfies("1.3", "~", "1.2")
    assert satisfies("1.2", ">=", "1.2") and not satisfies("1.1", ">=", "1.2")
    assert satisfies("1.1", "<", "1.2") and satisfies("1.3", ">", "1.2")
    assert satisfies("2.0", "!=", "1.0") and not satisfies("1.0", "!=", "1.0")
    with pytest.raises(ValueError):
        satisfies("1", "?", "1")


_part = st.integers(0, 30).map(str)
versions = st.builds(
    lambda nums, letter, suffix, hashv, rev: ".".join(nums) + letter + suffix + hashv + rev,
    st.lists(_part, min_size=1, max_size=4),
    st.sampled_from(["", "a", "z"]),
    st.sampled_from(
        ["", "_alpha", "_beta1", "_pre", "_rc2", "_cvs", "_git3", "_hg", "_p1", "_rc1_p2"]
    ),
    st.sampled_from(["", "~ab", "~1745ebad", "~0"]),
    st.sampled_from(["", "-r0", "-r1", "-r12"]),
)


@settings(max_examples=200, deadline=None)
@given(versions)
def test_generated_versions_are_valid(v: str) -> None:
    assert is_valid(v)


@settings(max_examples=200, deadline=None)
@given(versions, versions)
def test_antisymmetry(a: str, b: str) -> None:
    assert compare(a, b) == -compare(b, a)


@settings(max_examples=200, deadline=None)
@given(versions, versions, versions)
def test_transitivity(a: str, b: str, c: str) -> None:
    for x, y, z in itertools.permutations((a, b, c)):
        if compare(x, y) <= 0 and compare(y, z) <= 0:
            assert compare(x, z) <= 0
