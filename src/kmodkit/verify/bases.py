"""``--index`` bases: feeds (directories or URLs) that dependencies may resolve against."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kmodkit.errors import KmodkitError
from kmodkit.verify.checks_apk import read_apk_index
from kmodkit.verify.checks_feed import IndexEntry, parse_packages_index
from kmodkit.verify.model import Findings, VerifyOptions
from kmodkit.verify.reading import read_package
from kmodkit.verify.views import Manager, PackageView

TIMEOUT = 30
_CANDIDATES = ("Packages", "packages.adb", "Packages.gz")


@dataclass
class Base:
    manager: Manager
    source: str
    entries: list[IndexEntry] = field(default_factory=list)
    views: list[PackageView] = field(default_factory=list)


def load_base(spec: str, findings: Findings) -> Base | None:
    """Load one base feed; failures become ``input.unreadable`` naming the spec and cause."""
    try:
        if spec.startswith(("http://", "https://")):
            name, data = _fetch(spec)
            return _parse(spec, name, data)
        return _load_dir(Path(spec))
    except (KmodkitError, OSError, UnicodeDecodeError, zlib.error, EOFError) as exc:
        findings.fail("input.unreadable", spec, f"--index unusable: {exc}")
        return None


def _fetch(url: str) -> tuple[str, bytes]:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    urls = [url] if tail in _CANDIDATES else [f"{url.rstrip('/')}/{c}" for c in _CANDIDATES]
    errors = []
    for candidate in urls:
        try:
            response = requests.get(candidate, timeout=TIMEOUT)
        except requests.RequestException as exc:
            errors.append(f"{candidate}: {type(exc).__name__}")
            continue
        if response.status_code == 200:
            return candidate.rsplit("/", 1)[-1], response.content
        errors.append(f"{candidate}: HTTP {response.status_code}")
    raise OSError("no Packages or packages.adb found (" + "; ".join(errors) + ")")


def _parse(source: str, name: str, data: bytes) -> Base:
    if name == "Packages.gz":
        data, name = gzip.decompress(data), "Packages"
    if name == "packages.adb":
        base = Base("apk", source, read_apk_index(data, source).entries)
    else:
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
    if path.is_file():
        return _parse(str(path), path.name, path.read_bytes())
    for name in _CANDIDATES:
        if (path / name).is_file():
            base = _parse(str(path), name, (path / name).read_bytes())
            break
    else:
        raise OSError(f"{path} has no Packages or packages.adb")
    # package files next to the index give modules to resolve symbols and depends against
    scratch = Findings()
    by_name = {v.name: i for i, v in enumerate(base.views)}
    suffix = ".ipk" if base.manager == "opkg" else ".apk"
    for file in sorted(path.glob(f"*{suffix}")):
        view = read_package(file, str(file), scratch, VerifyOptions())
        if view is not None and view.name in by_name:
            view.origin = "base"
            base.views[by_name[view.name]] = view
    return base
