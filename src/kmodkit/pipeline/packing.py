"""Pack staged packages into ipk/apk, reusing earlier results from a content-addressed cache.

A package is repacked only when something that goes into its bytes changed: the cache key is a
hash of the complete PackageInput, the format, its options and kmodkit's version. Each entry's
own sha256 is recorded beside it and checked on reuse, so a damaged entry is repacked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kmodkit import __version__
from kmodkit.formats import apk, ipk
from kmodkit.formats.model import PackageInput
from kmodkit.fsutil import atomic_write_bytes, atomic_write_text

PackageFormat = Literal["ipk", "apk"]


@dataclass(frozen=True)
class PackResult:
    filename: str
    data: bytes
    reused: bool


def package_key(
    pkg: PackageInput, fmt: PackageFormat, source_date_epoch: int, installed_size: str
) -> str:
    """A stable digest of everything that determines the packed bytes."""
    h = hashlib.sha256()
    header = {
        "kmodkit": __version__,
        "format": fmt,
        "epoch": source_date_epoch,
        "installed_size": installed_size,
        "meta": vars(pkg.meta),
        "scripts": pkg.scripts,
        "conffiles": list(pkg.conffiles),
        "entries": [(e.path, e.kind, e.mode, e.target, len(e.data)) for e in pkg.entries],
    }
    h.update(json.dumps(header, sort_keys=True, default=list).encode())
    for entry in pkg.entries:
        h.update(hashlib.sha256(entry.data).digest())
    return h.hexdigest()


def pack(
    pkg: PackageInput,
    fmt: PackageFormat,
    *,
    source_date_epoch: int,
    installed_size: Literal["data.tar.gz", "data.tar"] = "data.tar",
    cache: Path | None = None,
) -> PackResult:
    filename = ipk.ipk_filename(pkg.meta) if fmt == "ipk" else apk.apk_filename(pkg.meta)
    cached: Path | None = None
    if cache is not None:
        key = package_key(pkg, fmt, source_date_epoch, installed_size)
        cached = cache / key[:2] / f"{key}.{fmt}"
        data = read_cached(cached)
        if data is not None:
            return PackResult(filename, data, reused=True)
    if fmt == "ipk":
        data = ipk.pack_ipk(pkg, source_date_epoch=source_date_epoch, installed_size=installed_size)
    else:
        data = apk.pack_apk(pkg, source_date_epoch=source_date_epoch)
    if cached is not None:
        atomic_write_bytes(cached, data)
        atomic_write_text(_digest_path(cached), hashlib.sha256(data).hexdigest() + "\n")
    return PackResult(filename, data, reused=False)


def _digest_path(cached: Path) -> Path:
    return cached.with_name(cached.name + ".sha256")


def read_cached(cached: Path) -> bytes | None:
    """A cached package whose bytes still have their recorded sha256, else None (repack).

    The recorded hash is written after the package, so an entry cut short by a kill, a
    truncated or altered file, or one without a record is never handed out.
    """
    try:
        data = cached.read_bytes()
        recorded = _digest_path(cached).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return data if hashlib.sha256(data).hexdigest() == recorded else None
