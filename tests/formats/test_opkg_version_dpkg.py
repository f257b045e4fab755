"""opkg's order against the real ``dpkg --compare-versions`` on generated version pairs.

opkg took dpkg's algorithm, so for versions both accept the answers must agree. The pairs come
from a seeded generator (the same pairs every run) that favours near-equal versions: a random
version and a small mutation of it, since two unrelated versions differ at the first digit.
All pairs are compared by one shell, so the run costs one dpkg exec per pair and no more.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from kmodkit.formats.opkg_version import compare_versions

PAIRS = 400
SEED = 20260101
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SYMBOLS = ".+~"
DPKG_LOOP = """
while read -r a b; do
  if dpkg --compare-versions "$a" lt "$b"; then echo -1
  elif dpkg --compare-versions "$a" eq "$b"; then echo 0
  else echo 1
  fi
done
"""


def _part(rng: random.Random, first_digit: bool) -> str:
    chars = [rng.choice("0123456789")] if first_digit else []
    for _ in range(rng.randint(0 if first_digit else 1, 7)):
        pick = rng.random()
        if pick < 0.45:
            chars.append(rng.choice("0123456789"))
        elif pick < 0.75:
            chars.append(rng.choice("abcrzAZ"))
        else:
            chars.append(rng.choice(SYMBOLS))
    return "".join(chars)


def _version(rng: random.Random) -> str:
    text = _part(rng, first_digit=True)
    if rng.random() < 0.5:
        text += "-" + _part(rng, first_digit=False)
    if rng.random() < 0.15:
        text = f"{rng.randint(0, 3)}:{text}"
    return text


def _mutate(rng: random.Random, version: str) -> str:
    """A near neighbour: one character changed, inserted or appended, or the epoch changed."""
    epoch, sep, rest = version.rpartition(":")
    kind = rng.randrange(5)
    if kind == 0 and len(rest) > 1:
        at = rng.randrange(1, len(rest))
        if rest[at] != "-":
            rest = rest[:at] + rng.choice(ALNUM + SYMBOLS) + rest[at + 1 :]
    elif kind == 1:
        at = rng.randrange(1, len(rest) + 1)
        rest = rest[:at] + rng.choice("~0a.+9") + rest[at:]
    elif kind == 2:
        rest += rng.choice(["~", "~rc1", ".0", "a", "+b", "0"])
    elif kind == 3:
        epoch, sep = str(rng.randint(0, 2)), ":"
    else:
        digits = [i for i, c in enumerate(rest) if c.isdigit()]
        if digits:
            at = rng.choice(digits)
            rest = rest[:at] + str((int(rest[at]) + 1) % 10) + rest[at + 1 :]
    return f"{epoch}{sep}{rest}" if sep else rest


def generated_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        a = _version(rng)
        b = _mutate(rng, a) if rng.random() < 0.8 else _version(rng)
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs


def dpkg_order(pairs: list[tuple[str, str]]) -> list[int]:
    if shutil.which("dpkg") is None:
        pytest.fail("dpkg is needed (it is part of every Debian system)")
    proc = subprocess.run(
        ["sh", "-c", DPKG_LOOP],
        input="".join(f"{a} {b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert "warning" not in proc.stderr, proc.stderr[:500]  # every pair is a valid dpkg version
    return [int(line) for line in proc.stdout.split()]


def test_generated_pairs_are_varied() -> None:
    pairs = generated_pairs(PAIRS, SEED)
    assert len(set(pairs)) > PAIRS * 0.9
    joined = " ".join(a + b for a, b in pairs)
    assert all(c in joined for c in "~+.:-")
    assert sum(1 for a, b in pairs if a == b) < PAIRS * 0.2


def test_opkg_order_matches_dpkg_compare_versions() -> None:
    pairs = generated_pairs(PAIRS, SEED)
    expected = dpkg_order(pairs)
    assert len(expected) == len(pairs)
    ours = [compare_versions(a, b) for a, b in pairs]
    rows = zip(pairs, ours, expected, strict=True)
    disagreements = [(a, b, o, e) for (a, b), o, e in rows if o != e]
    assert disagreements == []
    assert {-1, 0, 1} <= set(expected)  # the sample exercises every outcome
