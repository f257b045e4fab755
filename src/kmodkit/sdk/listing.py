"""`sdk.list`: releases and targets the mirror knows, or the SDKs the cache holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmodkit.sdk import cache, mirror
from kmodkit.sdk.download import Client, HttpSettings
from kmodkit.sdk.fetch import newest_release


@dataclass(frozen=True)
class Listing:
    release: str | None = None  # the resolved release whose targets are listed
    releases: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    cached: list[cache.CachedSdk] = field(default_factory=list)


def list_sdks(
    release: str | None,
    *,
    mirrors: tuple[str, ...] = (),
    offline: bool = False,
    http: HttpSettings | None = None,
) -> Listing:
    """Online: the mirror's releases, or with ``release`` its targets. Offline: the cache."""
    if offline:
        wanted = mirror.check_release(release) if release else None
        found = [
            sdk
            for d in cache.target_dirs()
            for sdk in cache.entries(d)
            if wanted is None or sdk.release == wanted or sdk.release.startswith(wanted + ".")
        ]
        return Listing(release=wanted, cached=found)
    urls = [mirror.normalize_mirror(m) for m in mirrors or mirror.default_mirrors()]
    client = Client(urls, http, http_cache=cache.http_cache_dir())
    try:
        if release is None:
            fetched = client.get_small(".versions.json")
            versions = mirror.parse_versions(fetched.data, fetched.url)
            return Listing(releases=[*sorted(versions, reverse=True), mirror.SNAPSHOT])
        name = mirror.check_release(release)
        if mirror.is_series(name):
            name = newest_release(client, name)
        fetched = client.get_small(mirror.targets_json_path(name))
        return Listing(release=name, targets=mirror.parse_targets(fetched.data, fetched.url))
    finally:
        client.close()
