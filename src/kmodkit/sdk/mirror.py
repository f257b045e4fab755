"""The downloads.openwrt.org layout (facts §2) as pure functions: paths, versions, sums, profiles.

Nothing here does I/O: callers pass the bytes they fetched and the URL they came from, so
every error names the file at fault.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from kmodkit.catalog import lookup_target
from kmodkit.errors import FetchError, UsageError

DEFAULT_MIRROR = "https://downloads.openwrt.org"
SNAPSHOT = "snapshot"

_RELEASE = re.compile(r"\d{2}\.\d{2}(\.\d+(-rc\d+)?)?")
_SERIES = re.compile(r"\d{2}\.\d{2}")
_TARGET_PART = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *]([^/\s][^/]*)")
_SDK_FILE = re.compile(r"openwrt-sdk-.+\.tar\.(xz|zst)")


@dataclass(frozen=True)
class SdkTarget:
    board: str
    subtarget: str

    @property
    def name(self) -> str:
        return f"{self.board}/{self.subtarget}"

    @property
    def cache_name(self) -> str:
        return f"{self.board}-{self.subtarget}"


@dataclass(frozen=True)
class KernelInfo:
    """``linux_kernel`` of profiles.json: what the SDK's kernel must be."""

    version: str
    release: str
    vermagic: str

    @property
    def kmods_dir(self) -> str:
        return f"{self.version}-{self.release}-{self.vermagic}"


def default_mirrors() -> tuple[str, ...]:
    """``KMODKIT_MIRROR`` (one URL or several, space/comma separated), else the official one."""
    env = os.environ.get("KMODKIT_MIRROR", "")
    found = tuple(m for m in env.replace(",", " ").split() if m)
    return found or (DEFAULT_MIRROR,)


def normalize_mirror(url: str) -> str:
    if not re.match(r"https?://", url):
        raise UsageError(f"mirror {url!r} is not an http(s) URL")
    return url.rstrip("/")


def parse_target(name: str) -> SdkTarget:
    """A catalog target or alias (``x86_64``), else any well-formed ``board/subtarget``."""
    try:
        known = lookup_target(name)
        return SdkTarget(known.board, known.subtarget)
    except UsageError:
        parts = name.strip().split("/")
        if len(parts) == 2 and all(_TARGET_PART.fullmatch(p) for p in parts):
            return SdkTarget(parts[0], parts[1])
        raise


def check_release(release: str) -> str:
    """``snapshot``, a series (``24.10``) or a point release (``24.10.4``, ``24.10.0-rc7``)."""
    name = release.strip()
    if name in (SNAPSHOT, "snapshots"):
        return SNAPSHOT
    if not _RELEASE.fullmatch(name):
        raise UsageError(
            f"release {release!r} is not a series (24.10), a point release (24.10.4) or snapshot"
        )
    return name


def is_series(release: str) -> bool:
    return bool(_SERIES.fullmatch(release))


def series_of(release: str) -> str:
    return SNAPSHOT if release == SNAPSHOT else ".".join(release.split(".")[:2])


def target_dir(release: str, target: SdkTarget) -> str:
    if release == SNAPSHOT:
        return f"snapshots/targets/{target.name}"
    return f"releases/{release}/targets/{target.name}"


def targets_json_path(release: str) -> str:
    return "snapshots/.targets.json" if release == SNAPSHOT else f"releases/{release}/.targets.json"


def _json(data: bytes, url: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FetchError(f"not valid JSON ({exc})", where=url) from None


def parse_versions(data: bytes, url: str) -> list[str]:
    """Every release .versions.json names (versions_list, stable and oldstable)."""
    doc = _json(data, url)
    if not isinstance(doc, dict):
        raise FetchError("expected a JSON object with versions_list", where=url)
    names = list(doc.get("versions_list") or [])
    names += [doc[k] for k in ("stable_version", "oldstable_version") if doc.get(k)]
    if not all(isinstance(n, str) for n in names):
        raise FetchError("versions_list must hold strings", where=url)
    return sorted({n for n in names if _RELEASE.fullmatch(n)}, key=_version_key)


def _version_key(name: str) -> Version:
    try:
        return Version(name)
    except InvalidVersion:
        return Version("0")


def newest_in_series(versions: list[str], series: str) -> str | None:
    """The newest point release of ``series`` (a final release beats its candidates)."""
    matching = [v for v in versions if v.startswith(series + ".")]
    return max(matching, key=_version_key) if matching else None


def parse_targets(data: bytes, url: str) -> list[str]:
    """``.targets.json``: an object ``{"x86/64": "x86_64", ...}`` (or a plain list)."""
    doc = _json(data, url)
    names = list(doc) if isinstance(doc, dict | list) else []
    return sorted(str(n) for n in names)


def parse_sha256sums(text: str, url: str) -> dict[str, str]:
    """``<hex> *<file>`` lines (``sha256sum`` output) -> {file: hex}."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _SUM_LINE.fullmatch(line.rstrip())
        if not match:
            raise FetchError(f"line {number} is not '<sha256> *<file>'", where=url)
        sums[match.group(2)] = match.group(1).lower()
    return sums


def find_sdk_file(sums: dict[str, str], url: str) -> str:
    """The SDK archive named in sha256sums (never guessed from the gcc version)."""
    found = sorted(name for name in sums if _SDK_FILE.fullmatch(name))
    if not found:
        raise FetchError("no openwrt-sdk-*.tar.xz or .tar.zst listed", where=url)
    if len(found) > 1:
        raise FetchError(f"several SDK archives listed: {', '.join(found)}", where=url)
    return found[0]


def parse_profiles(data: bytes, url: str) -> KernelInfo:
    doc = _json(data, url)
    kernel = doc.get("linux_kernel") if isinstance(doc, dict) else None
    if not isinstance(kernel, dict):
        raise FetchError("no linux_kernel object", where=url)
    values = {k: kernel.get(k) for k in ("version", "release", "vermagic")}
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            raise FetchError(f"linux_kernel.{key} missing or not a string", where=url)
    if not re.fullmatch(r"[0-9a-f]{32}", str(values["vermagic"])):
        raise FetchError("linux_kernel.vermagic is not 32 hex digits", where=url)
    return KernelInfo(str(values["version"]), str(values["release"]), str(values["vermagic"]))
