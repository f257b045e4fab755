"""Pairs, shards and the GitHub Actions matrix: pure functions, no build."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.catalog.tables import targets as target_table
from kmodkit.errors import UsageError
from kmodkit.release.plan import Pair, matrix, parse_pairs, parse_shard, shard_pairs

TARGETS = sorted(target_table())


def test_pairs_are_canonical_whatever_the_order_and_aliases() -> None:
    a = parse_pairs(["x86_64", "armsr/armv8"], ["24.10", "distro"])
    b = parse_pairs(["armsr/armv8", "x86/64", "x86-64"], ["distro", "24.10"])
    assert a == b
    assert [p.label for p in a] == [
        "distro:armsr/armv8",
        "distro:x86/64",
        "24.10:armsr/armv8",
        "24.10:x86/64",
    ]


@pytest.mark.parametrize(
    ("targets", "releases", "message"),
    [
        (["nonsense/board"], [], "unknown target"),
        (["x86/64"], ["19.07"], "unknown release"),
        ([], [], "at least one target"),
    ],
)
def test_bad_names_fail_before_anything(
    targets: list[str], releases: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        parse_pairs(targets, releases)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "2"])
def test_bad_shard_spec(text: str) -> None:
    with pytest.raises(UsageError, match="shard"):
        parse_shard(text)


@settings(max_examples=60, deadline=None)
@given(
    targets=st.lists(st.sampled_from(TARGETS), min_size=1, max_size=12, unique=True),
    releases=st.lists(st.sampled_from(["distro", "23.05", "24.10", "25.12"]), max_size=3),
    count=st.integers(min_value=1, max_value=9),
)
def test_shards_partition_the_pairs_and_balance(
    targets: list[str], releases: list[str], count: int
) -> None:
    pairs = parse_pairs(targets, releases)
    shards = [shard_pairs(pairs, i, count) for i in range(1, count + 1)]
    flat = [p for shard in shards for p in shard]
    assert set(flat) == set(pairs) and len(flat) == len(pairs)
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    # deterministic: the same split from a reordered input
    again = parse_pairs(list(reversed(targets)), list(reversed(releases)))
    assert [shard_pairs(again, i, count) for i in range(1, count + 1)] == shards


def test_matrix_json_names_every_pair_once() -> None:
    targets = ["x86/64", "armsr/armv8", "ramips/mt7621", "ath79/generic"]
    doc = matrix(targets, [], 3)
    assert [e["shard"] for e in doc["include"]] == ["1/3", "2/3", "3/3"]
    labels = [label for e in doc["include"] for label in e["pairs"].split()]
    assert sorted(labels) == sorted(p.label for p in parse_pairs(targets, []))
    assert json.loads(json.dumps(doc)) == doc
    # more shards than pairs: no empty jobs
    assert [e["shard"] for e in matrix(["x86/64"], [], 4)["include"]] == ["1/1"]
    assert Pair("x86/64").label == "distro:x86/64"
