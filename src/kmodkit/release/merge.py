"""`invoke release.merge`: shard trees -> one tree, byte-identical to a single-machine run.

Every file of a shard belongs to one pair's target directory (or is a shared public key), so
merging is a union: a path present in two shards must hold the same bytes. ``index.json`` is
rebuilt from the union of the shards' pair records with the same writer a single run uses;
all shards must have been signed with the same keys. The result is verified before it
replaces ``out``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmodkit.errors import UsageError
from kmodkit.fsutil import atomic_directory, atomic_write_bytes
from kmodkit.release.layout import INDEX, files_under, index_document, read_index


@dataclass
class MergeResult:
    out: Path
    pairs: int
    files: int
    verify_summary: str


def merge_trees(shards: Sequence[Path], out: Path, keys_dir: Path | None = None) -> MergeResult:
    """``keys_dir``: trusted public keys; without it the keys shipped in the shards are used."""
    if not shards:
        raise UsageError("release.merge needs at least one shard directory")
    docs = [read_index(shard / INDEX) for shard in shards]
    keys = docs[0].get("keys", {})
    for shard, doc in zip(shards, docs, strict=True):
        if doc.get("keys") != keys:
            raise UsageError(
                "signed with other keys than the first shard: merge shards built with the same "
                "--key/--apk-key",
                where=str(shard / INDEX),
            )
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for shard, doc in zip(shards, docs, strict=True):
        for record in doc.get("pairs", []):
            key = (record["release"], record["target"])
            if key in records and records[key] != record:
                raise UsageError(
                    f"pair {key[0]}:{key[1]} differs between shards", where=str(shard / INDEX)
                )
            records[key] = record
    with atomic_directory(out) as tree:
        origin: dict[str, Path] = {}
        for shard in shards:
            for rel in files_under(shard):
                if rel == INDEX:
                    continue
                dest = tree / rel
                if rel in origin:
                    if dest.read_bytes() != (shard / rel).read_bytes():
                        raise UsageError(
                            f"{rel} differs from the copy in {origin[rel]}", where=str(shard)
                        )
                    continue
                origin[rel] = shard
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shard / rel, dest)
        atomic_write_bytes(tree / INDEX, index_document(records.values(), keys))
        summary = _verify(tree, keys_dir)
    return MergeResult(out=out, pairs=len(records), files=len(origin) + 1, verify_summary=summary)


def _verify(tree: Path, keys_dir: Path | None) -> str:
    """Verify the merged tree strictly against the trusted keys (or the shipped copies)."""
    import tempfile

    from kmodkit.errors import BuildError
    from kmodkit.verify import VerifyOptions, verify_paths

    with tempfile.TemporaryDirectory(prefix="kmodkit-trusted-keys-") as trusted:
        if keys_dir is None:
            for rel in files_under(tree / "keys") if (tree / "keys").is_dir() else []:
                shutil.copyfile(tree / "keys" / rel, Path(trusted) / Path(rel).name)
        report = verify_paths([tree], options=VerifyOptions(keys=keys_dir or Path(trusted)))
    if not report.ok(strict=True):
        first = report.failures()[0].one_line()
        raise BuildError(
            f"verify failed on the merged tree ({report.failed} failed, "
            f"{report.warnings} warnings): {first}"
        )
    return f"{report.passed} passed, {report.failed} failed"
