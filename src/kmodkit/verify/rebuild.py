"""Reproducibility: compare two build output trees byte for byte.

``compare_trees`` is the library part; ``kmodkit.pipeline.reproduce`` drives two builds.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kmodkit.verify.model import Findings

DifferenceKind = Literal["only-in-a", "only-in-b", "content", "type", "symlink"]


@dataclass(frozen=True)
class Difference:
    """One path (relative, POSIX) that differs between two trees, and how."""

    path: str
    kind: DifferenceKind
    detail: str = ""


def compare_trees(a: Path, b: Path) -> list[Difference]:
    """Every path whose presence, type, link target or bytes differ, sorted by path."""
    left = dict(_walk(a))
    right = dict(_walk(b))
    diffs: list[Difference] = []
    for rel in sorted(left.keys() | right.keys()):
        if rel not in right:
            diffs.append(Difference(rel, "only-in-a", f"missing from {b}"))
        elif rel not in left:
            diffs.append(Difference(rel, "only-in-b", f"missing from {a}"))
        else:
            diff = _compare_one(rel, left[rel], right[rel])
            if diff is not None:
                diffs.append(diff)
    return diffs


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = base / name
            yield path.relative_to(root).as_posix(), path


def _kind(path: Path) -> str:
    if path.is_symlink():
        return "symlink"
    if path.is_dir():
        return "dir"
    return "file"


def _compare_one(rel: str, pa: Path, pb: Path) -> Difference | None:
    ka, kb = _kind(pa), _kind(pb)
    if ka != kb:
        return Difference(rel, "type", f"{ka} vs {kb}")
    if ka == "symlink":
        ta, tb = os.readlink(pa), os.readlink(pb)
        return None if ta == tb else Difference(rel, "symlink", f"-> {ta} vs -> {tb}")
    if ka == "dir":
        return None
    da, db = pa.read_bytes(), pb.read_bytes()
    if da == db:
        return None
    offset = next((i for i, (x, y) in enumerate(zip(da, db, strict=False)) if x != y), None)
    where = f"first difference at byte {offset}" if offset is not None else "one is a prefix"
    detail = (
        f"{len(da)} vs {len(db)} bytes, sha256 {hashlib.sha256(da).hexdigest()[:12]} vs "
        f"{hashlib.sha256(db).hexdigest()[:12]}, {where}"
    )
    return Difference(rel, "content", detail)


def differences_to_findings(diffs: list[Difference], label: str) -> Findings:
    findings = Findings()
    if not diffs:
        findings.ok("rebuild.reproducible", label, "two builds are byte-identical")
    for d in diffs:
        findings.fail("rebuild.reproducible", f"{label}/{d.path}", f"{d.kind}: {d.detail}")
    return findings
