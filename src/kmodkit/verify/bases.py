"""``--index`` bases: feeds (directories or URLs) that dependencies may resolve against."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit import httpget
from kmodkit.errors import KmodkitError
from kmodkit.formats.gzipio import gzip_decompress
from kmodkit.httpget import HttpLimits
from kmodkit.limits import MAX_INDEX_FILE_BYTES, packages_stanzas_within_limit
from kmodkit.safeio import read_regular_file
from kmodkit.verify.checks_apk import read_apk_index
from kmodkit.verify.checks_feed import IndexEntry, parse_packages_index
from kmodkit.verify.model import Findings, VerifyOptions
from kmodkit.verify.reading import read_package
from kmodkit.verify.views import Manager, PackageView

_CANDIDATES = ("Packages", "packages.adb", "Packages.gz")


@dataclass
class Base:
    manager: Manager
    source: str
    entries: list[IndexEntry] = field(default_factory=list)
    views: list[PackageView] = field(default_factory=list)


def load_base(spec: str, findings: Findings, http: HttpLimits | None = None) -> Base | None:
    """Load one base feed; failures become ``input.unreadable`` naming the spec and cause.

    A URL is downloaded within ``http`` (size cap, stall timeout, one deadline for all the
    candidate index names).
    """
    try:
        if spec.startswith(("http://", "https://")):
            name, data = _fetch(spec, http or HttpLimits())
            return _parse(spec, name, data)
        return _load_dir(Path(spec))
    except (KmodkitError, OSError, UnicodeDecodeError, zlib.error, EOFError) as exc:
        findings.fail("input.unreadable", spec, f"--index unusable: {exc}")
        return None


def _fetch(url: str, http: HttpLimits) -> tuple[str, bytes]:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    urls = [url] if tail in _CANDIDATES else [f"{url.rstrip('/')}/{c}" for c in _CANDIDATES]
    deadline = httpget.Deadline(http)
    errors = []
    for candidate in urls:
        status, body = httpget.get(candidate, deadline)  # a tripped limit ends the search
        if status == 200:
            return candidate.rsplit("/", 1)[-1], body
        errors.append(f"{candidate}: HTTP {status}")
    raise OSError("no Packages or packages.adb found (" + "; ".join(errors) + ")")


def _parse(source: str, name: str, data: bytes) -> Base:
    if name == "Packages.gz":
        data, _header = gzip_decompress(data, source, MAX_INDEX_FILE_BYTES, "MAX_INDEX_FILE_BYTES")
        name = "Packages"
    if name == "packages.adb":
        base = Base("apk", source, read_apk_index(data, source).entries)
    else:
        packages_stanzas_within_limit(data, source)
        base = Base("opkg", source, parse_packages_index(data.decode("utf-8"), source))
    base.views = [
        PackageView(
            artifact=f"{source}#{e.name}",
            manager=base.manager,
            name=e.name,
            version=e.version,
            arch=e.arch,
            depends=e.depends,
            provides=e.provides,
            has_files=False,
            origin="base",
        )
        for e in base.entries
    ]
    return base


def _load_dir(path: Path) -> Base:
    if not path.is_dir():
        return _parse(str(path), path.name, _read_index(path))
    for name in _CANDIDATES:
        if (path / name).exists():
            base = _parse(str(path), name, _read_index(path / name))
            break
    else:
        raise OSError(f"{path} has no Packages or packages.adb")
    # package files next to the index give modules to resolve symbols and depends against
    # (read one at a time, their file data released after reading: memory stays bounded)
    scratch = Findings()
    by_name = {v.name: i for i, v in enumerate(base.views)}
    suffix = ".ipk" if base.manager == "opkg" else ".apk"
    for file in sorted(path.glob(f"*{suffix}")):
        view = read_package(file, str(file), scratch, VerifyOptions())
        if view is not None and view.name in by_name:
            view.origin = "base"
            base.views[by_name[view.name]] = view
    return base


def _read_index(path: Path) -> bytes:
    return read_regular_file(path, MAX_INDEX_FILE_BYTES, "MAX_INDEX_FILE_BYTES")
