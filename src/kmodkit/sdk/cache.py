"""The SDK cache: ``$KMODKIT_CACHE/sdk/<release>/<board>-<sub>/<sha256-prefix>/``.

An entry directory appears only by renaming a fully unpacked and checked temporary directory
beside it (pid-named as kmodkit.fsutil names temporaries), so a present entry is a verified
SDK. A per-target file lock serialises fetches of the same SDK. The verified ``sha256sums``
and its signature are kept beside the entries for ``--offline``; ``http/`` holds small files
for conditional requests. Temporary directories whose owner process is gone are removed."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from kmodkit import resources
from kmodkit.errors import FetchError
from kmodkit.fsutil import atomic_write_text, make_temp_dir, sweep_stale

ENTRY_META = "fetch.json"
PREFIX_LEN = 16
_ENTRY = re.compile(r"[0-9a-f]{16}")
LOCAL = "local"  # entries unpacked from a tarball given to --sdk


def sdk_root() -> Path:
    return resources.cache_dir() / "sdk"


def http_cache_dir() -> Path:
    return sdk_root() / "http"


def target_cache(release: str, cache_name: str) -> Path:
    return sdk_root() / release / cache_name


def entry_dir(target_dir: Path, sha256: str) -> Path:
    return target_dir / sha256[:PREFIX_LEN]


@dataclass(frozen=True)
class CachedSdk:
    """One verified, unpacked SDK in the cache (fetch.json written before the rename)."""

    entry: Path
    release: str
    target: str
    sdk_file: str
    sha256: str
    sdk_dir: Path
    kernel: dict[str, str]
    mirror: str | None


def read_entry(entry: Path) -> CachedSdk | None:
    try:
        meta = json.loads((entry / ENTRY_META).read_text())
        return CachedSdk(
            entry=entry,
            release=meta["release"],
            target=meta["target"],
            sdk_file=meta["sdk_file"],
            sha256=meta["sha256"],
            sdk_dir=entry / meta["sdk_dir"],
            kernel=dict(meta.get("kernel") or {}),
            mirror=meta.get("mirror"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_entry_meta(tmp: Path, sdk: CachedSdk) -> None:
    meta = {
        "release": sdk.release,
        "target": sdk.target,
        "sdk_file": sdk.sdk_file,
        "sha256": sdk.sha256,
        "sdk_dir": sdk.sdk_dir.name,
        "kernel": sdk.kernel,
        "mirror": sdk.mirror,
    }
    atomic_write_text(tmp / ENTRY_META, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def entries(target_dir: Path) -> list[CachedSdk]:
    """The target's entries, newest first."""
    if not target_dir.is_dir():
        return []
    found = [
        sdk
        for p in target_dir.iterdir()
        if _ENTRY.fullmatch(p.name) and p.is_dir() and (sdk := read_entry(p)) is not None
    ]
    return sorted(found, key=lambda s: (s.entry.stat().st_mtime, s.entry.name), reverse=True)


def target_dirs() -> Iterator[Path]:
    """Every ``<release>/<board>-<sub>`` directory of the cache (and ``local/<name>``)."""
    root = sdk_root()
    if not root.is_dir():
        return
    for release in sorted(root.iterdir()):
        if not release.is_dir() or release.name == "http":
            continue
        for target in sorted(release.iterdir()):
            if target.is_dir():
                yield target


@contextmanager
def locked(target_dir: Path, timeout: float = -1) -> Iterator[None]:
    """Hold the target's lock: concurrent fetches of one SDK download it once."""
    target_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target_dir / ".lock"), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout:
        raise FetchError(
            "another kmodkit process holds the SDK cache lock", where=str(target_dir)
        ) from None


def temp_dir_for(target_dir: Path, sha256: str) -> Path:
    """A pid-named directory beside the entry (kmodkit.fsutil's naming, swept when stale)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    return make_temp_dir(target_dir, sha256[:PREFIX_LEN])


def remove_stale(target_dir: Path, keep_part: str | None = None) -> list[Path]:
    """Remove temporary directories of dead processes and ``.part`` files not being resumed.

    Call with the target's lock held; ``keep_part`` names the ``.part`` a fetch will resume.
    """
    if not target_dir.is_dir():
        return []
    removed = sweep_stale([target_dir])
    for path in target_dir.iterdir():
        if path.name.endswith(".part") and path.name != keep_part:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def part_file(target_dir: Path, sha256: str, sdk_file: str) -> Path:
    suffix = ".tar.zst" if sdk_file.endswith(".tar.zst") else ".tar.xz"
    return target_dir / f"{sha256[:PREFIX_LEN]}{suffix}.part"


def tree_size(path: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


@dataclass(frozen=True)
class CleanResult:
    removed: list[Path]
    kept: list[Path]
    freed: int


def clean(keep: int) -> CleanResult:
    """Keep the ``keep`` newest entries of each release/target; drop stale leftovers."""
    if keep < 0:
        raise FetchError(f"--keep must be 0 or more, not {keep}")
    removed: list[Path] = []
    kept: list[Path] = []
    freed = 0
    for target_dir in list(target_dirs()):
        try:
            with locked(target_dir, timeout=0):
                for path in remove_stale(target_dir):
                    removed.append(path)
                found = entries(target_dir)
                for sdk in found[keep:]:
                    freed += tree_size(sdk.entry)
                    shutil.rmtree(sdk.entry)
                    removed.append(sdk.entry)
                kept.extend(s.entry for s in found[:keep])
        except FetchError:
            continue  # a fetch is running there: leave it alone
    return CleanResult(removed=removed, kept=kept, freed=freed)
