"""Which (release, target) pairs a release run builds, and how they split into shards.

A pair's release is an OpenWrt release name, or ``None`` for the distro default (the
24.10 scheme, both formats, published under the distro kernel's name). The order of pairs is
canonical, so the shard split and the merged index do not depend on how they were listed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from kmodkit.catalog import lookup_release, lookup_target
from kmodkit.errors import UsageError

DISTRO = "distro"


@dataclass(frozen=True)
class Pair:
    """One (release, target) to build; ``release`` None is the distro kernel's own scheme."""

    target: str  # canonical board/subtarget
    release: str | None = None

    @property
    def label(self) -> str:
        return f"{self.release or DISTRO}:{self.target}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.release or "", self.target)


def parse_pairs(targets: Sequence[str], releases: Sequence[str]) -> list[Pair]:
    """Every (release, target), validated up front (unknown names stop before any build)."""
    if not targets:
        raise UsageError("--targets needs at least one target (e.g. x86/64,armsr/armv8)")
    names = sorted({lookup_target(t).name for t in targets})
    rels: list[str | None] = []
    for release in releases or [DISTRO]:
        rels.append(None if release == DISTRO else lookup_release(release).name)
    pairs = {Pair(target=t, release=r) for t in names for r in rels}
    return sorted(pairs, key=lambda p: p.key)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``I/N`` (1-based) -> (I, N); None when no shard was asked for."""
    if not text:
        return None
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise UsageError(f"--shard must look like I/N (e.g. 2/4), not {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {text}: need 1 <= I <= N")
    return i, n


def shard_pairs(pairs: Sequence[Pair], index: int, count: int) -> list[Pair]:
    """Shard ``index`` of ``count``: every count-th pair of the canonical order.

    A partition (each pair in exactly one shard) whose sizes differ by at most one; pairs of
    one architecture spread over shards so no shard gets all the slow cross builds.
    """
    ordered = sorted(pairs, key=lambda p: (_machine(p.target), p.key))
    return sorted((p for i, p in enumerate(ordered) if i % count == index - 1), key=lambda p: p.key)


def _machine(target: str) -> str:
    return lookup_target(target).pkg_arch.split("_")[0]


def matrix(
    targets: Sequence[str], releases: Sequence[str], shards: int
) -> dict[str, list[dict[str, str]]]:
    """A GitHub Actions ``strategy.matrix``: one entry per non-empty shard."""
    if shards < 1:
        raise UsageError("--shards must be at least 1")
    pairs = parse_pairs(targets, releases)
    include = []
    for index in range(1, min(shards, len(pairs)) + 1):
        count = min(shards, len(pairs))
        mine = shard_pairs(pairs, index, count)
        include.append(
            {
                "shard": f"{index}/{count}",
                "name": f"shard-{index}-of-{count}",
                "pairs": " ".join(p.label for p in mine),
            }
        )
    return {"include": include}


def matrix_json(targets: Sequence[str], releases: Sequence[str], shards: int) -> str:
    return json.dumps(matrix(targets, releases, shards), separators=(",", ":"), sort_keys=True)
