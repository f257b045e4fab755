"""The official download layout, per-target checksums and the release index.

``releases/<ver>/targets/<board>/<sub>/kmods/<kver>-<rel>-<vermagic>/`` holds the feeds
(Packages + .gz + .sig and/or packages.adb with their packages); the virtual kernel package
stays out of every index, beside the feeds in ``kernel/``; ``sha256sums`` lists every file of
the target directory (``<hex> *<path>``, like OpenWrt's) and ``sha256sums.sig`` is its usign
signature. ``index.json`` at the top names every pair, its kernel, its artifacts and the keys.
Everything here is a pure function of the pairs' outputs, so shards merge byte-identically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kmodkit.formats import usign
from kmodkit.fsutil import atomic_write_bytes, atomic_write_text, file_sha256
from kmodkit.pipeline.build import BuildResult
from kmodkit.pipeline.keys import BuildKeys

SUMS = "sha256sums"
INDEX = "index.json"
INDEX_FORMAT = 1
FEED_DIRS = ("ipk", "apk")


def target_dir(root: Path, ver: str, target: str) -> Path:
    return root / "releases" / ver / "targets" / target


def kmods_name(result: BuildResult) -> str:
    """``<kver>-<rel>-<vermagic hash>`` as profiles.json names the kmods directory."""
    return f"{result.tree.version}-1-{result.tree.vermagic_hash}"


def place_result(result: BuildResult, ver: str, root: Path, keys: BuildKeys) -> dict[str, Any]:
    """Copy one build's feeds into the layout under ``root``; its index.json record."""
    tdir = target_dir(root, ver, result.target.name)
    kmods = tdir / "kmods" / kmods_name(result)
    for sub in FEED_DIRS:
        src = result.out_dir / sub
        if src.is_dir():
            for path in sorted(src.iterdir()):
                _copy(path, kmods / path.name)
    for path in sorted((result.out_dir / "kernel").glob("*")):
        _copy(path, tdir / "kernel" / path.name)
    write_sums(tdir, keys)
    for path in sorted((result.out_dir / "keys").glob("*")):
        _copy(path, root / "keys" / path.name)
    return pair_record(result, ver, root, keys)


def _copy(src: Path, dest: Path) -> None:
    """Through a temporary file: parallel pairs may write the same public key at once."""
    atomic_write_bytes(dest, src.read_bytes())


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def write_sums(tdir: Path, keys: BuildKeys) -> None:
    """sha256sums of every file of the target directory, and its usign signature."""
    lines = [
        f"{file_sha256(tdir / rel)} *{rel}\n"
        for rel in files_under(tdir)
        if rel not in (SUMS, f"{SUMS}.sig")
    ]
    data = "".join(lines).encode()
    atomic_write_bytes(tdir / SUMS, data)
    signature = usign.sign(data, keys.usign_secret)
    atomic_write_text(tdir / f"{SUMS}.sig", signature.to_text())


def pair_record(result: BuildResult, ver: str, root: Path, keys: BuildKeys) -> dict[str, Any]:
    tdir = target_dir(root, ver, result.target.name)
    artifacts = []
    for rel in files_under(tdir):
        path = tdir / rel
        entry: dict[str, Any] = {
            "path": (tdir / rel).relative_to(root).as_posix(),
            "sha256": file_sha256(path),
            "size": path.stat().st_size,
        }
        signer = _signed_by(rel, keys)
        if signer:
            entry["signed_by"] = signer
        artifacts.append(entry)
    return {
        "release": ver,
        "scheme": result.release.name,
        "target": result.target.name,
        "pkg_arch": result.target.pkg_arch,
        "formats": list(result.formats),
        "kernel": result.tree.describe(),
        "dir": tdir.relative_to(root).as_posix(),
        "kmods": f"{tdir.relative_to(root).as_posix()}/kmods/{kmods_name(result)}",
        "packages": sorted(p.name for p in result.packages),
        "artifacts": artifacts,
    }


def _signed_by(rel: str, keys: BuildKeys) -> str | None:
    name = rel.rsplit("/", 1)[-1]
    if name in ("Packages.sig", f"{SUMS}.sig"):
        return f"usign:{keys.usign_key_id}"
    if name == "packages.adb":
        return f"apk:{keys.apk_key_id}"
    return None


def index_document(records: Iterable[Mapping[str, Any]], keys: Mapping[str, str]) -> bytes:
    """index.json: pairs in canonical order, sorted keys, no time or host details."""
    pairs = sorted(records, key=lambda r: (r["release"], r["target"]))
    doc = {"format": INDEX_FORMAT, "keys": dict(sorted(keys.items())), "pairs": pairs}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def key_summary(keys: BuildKeys) -> dict[str, str]:
    return {
        "usign": keys.usign_key_id,
        "apk": keys.apk_key_id,
        "usign_public": f"keys/{keys.usign_key_id}",
        "apk_public": f"keys/{keys.apk_key_id}.pem",
    }


def read_index(path: Path) -> dict[str, Any]:
    from kmodkit.errors import UsageError

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"not a kmodkit release tree index: {exc}", where=str(path)) from None
    if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT:
        raise UsageError(f"unknown release index format (want {INDEX_FORMAT})", where=str(path))
    return doc


def pairs_of(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [p for d in docs for p in d.get("pairs", [])]
