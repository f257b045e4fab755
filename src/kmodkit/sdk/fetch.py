"""From a release and a target to a verified, unpacked OpenWrt SDK in the cache.

1. resolve the release (a series goes to its newest point release via .versions.json);
2. fetch ``sha256sums`` and ``sha256sums.sig`` and verify the signature against the pinned
   key of the release series (or ``--keys``); any failure stops here;
3. find the SDK archive in ``sha256sums`` and read ``profiles.json`` for the kernel;
4. under the target's lock: reuse a present entry, or download (resuming a ``.part``), check
   sha256, unpack safely into a temporary directory, cross-check the kernel version and
   vermagic against profiles.json, and rename it into place.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.errors import FetchError, KernelTreeError, UsageError
from kmodkit.fsutil import atomic_write_bytes, file_sha256
from kmodkit.kernel.sdk import find_kernel_build_dir
from kmodkit.sdk import cache, mirror
from kmodkit.sdk.download import ByteProgress, Client, HttpSettings, NotFound
from kmodkit.sdk.extract import extract_archive, is_archive, top_directory
from kmodkit.sdk.keys import check_signature, trusted_keys

Say = Callable[[str], None]


@dataclass(frozen=True)
class FetchOptions:
    release: str
    target: str
    mirrors: tuple[str, ...] = ()  # empty: KMODKIT_MIRROR, else the official server
    keys_dir: Path | None = None
    offline: bool = False
    http: HttpSettings = field(default_factory=HttpSettings)


@dataclass(frozen=True)
class FetchResult:
    sdk: cache.CachedSdk
    downloaded: bool  # the archive was downloaded by this call
    requests: list[str]  # every HTTP request made, for the record

    @property
    def path(self) -> Path:
        return self.sdk.sdk_dir


@dataclass(frozen=True)
class SignedSums:
    sums: dict[str, str]
    text: bytes
    sig: bytes
    url: str


def fetch_sdk(
    options: FetchOptions, *, say: Say | None = None, on_bytes: ByteProgress | None = None
) -> FetchResult:
    note = say or (lambda _msg: None)
    target = mirror.parse_target(options.target)
    release = mirror.check_release(options.release)
    if options.offline:
        return FetchResult(_offline(release, target, options.keys_dir), False, [])
    client = open_client(options, on_bytes)
    try:
        release = point_release(client, release, note)
        result = _online(client, release, target, options.keys_dir, note)
        return FetchResult(result[0], result[1], list(client.requests_made))
    finally:
        client.close()


def sdk_for_release(
    options: FetchOptions, *, say: Say | None = None, on_bytes: ByteProgress | None = None
) -> tuple[Path, str]:
    """The SDK to build on, and the release to build for: the point release fetched (a series
    such as 24.10 becomes 24.10.4, whose facts may differ by point), else the one asked for."""
    result = fetch_sdk(options, say=say, on_bytes=on_bytes)
    point = result.sdk.release
    return result.path, point if re.fullmatch(r"\d+\.\d+\.\d+", point) else options.release


def open_client(options: FetchOptions, on_bytes: ByteProgress | None) -> Client:
    """A client over the options' mirrors, tried in order (default: KMODKIT_MIRROR or the
    official server)."""
    mirrors = [mirror.normalize_mirror(m) for m in options.mirrors or mirror.default_mirrors()]
    return Client(mirrors, options.http, http_cache=cache.http_cache_dir(), on_bytes=on_bytes)


def point_release(client: Client, release: str, note: Say) -> str:
    """``release`` itself, or for a series (``24.10``) its newest point release on the mirror."""
    if not mirror.is_series(release):
        return release
    newest = newest_release(client, release)
    note(f"release {release} is {newest}")
    return newest


def newest_release(client: Client, series: str) -> str:
    try:
        fetched = client.get_small(".versions.json")
    except NotFound as exc:
        raise FetchError(
            f"no .versions.json to resolve series {series}; name a point release (e.g. {series}.0)",
            where=exc.url,
        ) from None
    versions = mirror.parse_versions(fetched.data, fetched.url)
    newest = mirror.newest_in_series(versions, series)
    if newest is None:
        raise UsageError(
            f"no {series}.x release on the mirror; it has {', '.join(versions) or 'none'}",
            where=fetched.url,
        )
    return newest


def signed_sums(
    client: Client, release: str, target: mirror.SdkTarget, keys_dir: Path | None
) -> SignedSums:
    base = mirror.target_dir(release, target)
    try:
        sums = client.get_small(f"{base}/sha256sums")
    except NotFound as exc:
        raise _missing_target(client, release, target, exc) from None
    try:
        sig = client.get_small(f"{base}/sha256sums.sig")
    except NotFound as exc:
        raise FetchError(
            "signature missing: sha256sums.sig not found (HTTP 404)", where=exc.url
        ) from None
    return _check(sums.data, sig.data, sums.url, sig.url, release, keys_dir)


def _check(
    text: bytes, sig: bytes, url: str, sig_url: str, release: str, keys_dir: Path | None
) -> SignedSums:
    keys = trusted_keys(mirror.series_of(release), keys_dir)
    check_signature(text, sig.decode("ascii", "replace"), keys, where=sig_url)
    sums = mirror.parse_sha256sums(text.decode("utf-8", "replace"), url)
    return SignedSums(sums, text, sig, url)


def _missing_target(
    client: Client, release: str, target: mirror.SdkTarget, exc: NotFound
) -> FetchError:
    try:
        listing = client.get_small(mirror.targets_json_path(release), conditional=False)
    except (NotFound, FetchError):
        return FetchError(
            f"release {release} or target {target.name} not on the mirror", where=exc.url
        )
    names = mirror.parse_targets(listing.data, listing.url)
    return FetchError(
        f"target {target.name} not found for {release}; the mirror has: {', '.join(names)}",
        where=exc.url,
    )


def _online(
    client: Client, release: str, target: mirror.SdkTarget, keys_dir: Path | None, say: Say
) -> tuple[cache.CachedSdk, bool]:
    signed = signed_sums(client, release, target, keys_dir)
    sdk_file = mirror.find_sdk_file(signed.sums, signed.url)
    sha256 = signed.sums[sdk_file]
    target_dir = cache.target_cache(release, target.cache_name)
    with cache.locked(target_dir):
        _save_sums(target_dir, signed)
        entry = cache.entry_dir(target_dir, sha256)
        present = cache.read_entry(entry)
        part = cache.part_file(target_dir, sha256, sdk_file)
        cache.remove_stale(target_dir, keep_part=part.name)
        if present is not None and present.sha256 == sha256:
            return present, False
        base = mirror.target_dir(release, target)
        kernel, profiles_url = fetch_profiles(client, base, signed.sums)
        say(f"downloading {sdk_file}")
        url = download_checked(client, f"{base}/{sdk_file}", part, sha256)
        say(f"unpacking {sdk_file}")
        try:
            sdk = _unpack(
                part,
                target_dir,
                sha256,
                url,
                lambda top: cache.CachedSdk(
                    entry=entry,
                    release=release,
                    target=target.name,
                    sdk_file=sdk_file,
                    sha256=sha256,
                    sdk_dir=entry / top.name,
                    kernel={
                        "version": kernel.version,
                        "release": kernel.release,
                        "vermagic": kernel.vermagic,
                    },
                    mirror=url.removesuffix(f"/{base}/{sdk_file}"),
                ),
                check=lambda top: check_sdk_kernel(top, kernel, profiles_url),
            )
        finally:
            part.unlink(missing_ok=True)  # verified, yet bad: never resumed
        return sdk, True


def _save_sums(target_dir: Path, signed: SignedSums) -> None:
    atomic_write_bytes(target_dir / "sha256sums", signed.text)
    atomic_write_bytes(target_dir / "sha256sums.sig", signed.sig)


def fetch_profiles(
    client: Client, base: str, sums: dict[str, str]
) -> tuple[mirror.KernelInfo, str]:
    fetched = client.get_small(f"{base}/profiles.json", conditional=False)
    expected = sums.get("profiles.json")
    if expected is not None and hashlib.sha256(fetched.data).hexdigest() != expected:
        raise FetchError("sha256 differs from the signed sha256sums", where=fetched.url)
    return mirror.parse_profiles(fetched.data, fetched.url), fetched.url


def download_checked(client: Client, path: str, part: Path, sha256: str) -> str:
    """Download (resuming ``part``) and check sha256; a resumed mismatch restarts once."""
    for attempt in (1, 2):
        resumed = part.exists() and part.stat().st_size > 0
        url = client.download(path, part)
        got = file_sha256(part)
        if got == sha256:
            return url
        part.unlink(missing_ok=True)
        if attempt == 2 or not resumed:
            raise FetchError(
                f"sha256 {got} differs from the signed sha256sums ({sha256}): tampered or "
                "corrupt download; nothing was unpacked",
                where=url,
            )
    raise AssertionError("unreachable")


def _unpack(
    archive: Path,
    target_dir: Path,
    sha256: str,
    name: str,
    describe: Callable[[Path], cache.CachedSdk],
    check: Callable[[Path], None] | None = None,
) -> cache.CachedSdk:
    tmp = cache.temp_dir_for(target_dir, sha256)
    try:
        extract_archive(archive, tmp, name)
        top = top_directory(tmp, name)
        if check is not None:
            check(top)
        sdk = describe(top)
        cache.write_entry_meta(tmp, sdk)
        if sdk.entry.exists():
            shutil.rmtree(sdk.entry)
        tmp.rename(sdk.entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sdk


def check_sdk_kernel(sdk_dir: Path, kernel: mirror.KernelInfo, profiles_url: str) -> None:
    """The unpacked SDK's kernel dir and .vermagic must be what profiles.json announces."""
    try:
        build_dir = find_kernel_build_dir(sdk_dir)
    except KernelTreeError as exc:
        raise FetchError(f"the archive is not an OpenWrt SDK: {exc.message}") from None
    version = build_dir.name.removeprefix("linux-")
    if version != kernel.version:
        raise FetchError(
            f"SDK kernel is {version} but profiles.json linux_kernel.version is {kernel.version}",
            where=profiles_url,
        )
    vermagic_file = build_dir / ".vermagic"
    found = vermagic_file.read_text().strip() if vermagic_file.is_file() else "(no .vermagic)"
    if found != kernel.vermagic:
        raise FetchError(
            f"SDK .vermagic is {found} but profiles.json linux_kernel.vermagic is "
            f"{kernel.vermagic}",
            where=profiles_url,
        )


def _offline(release: str, target: mirror.SdkTarget, keys_dir: Path | None) -> cache.CachedSdk:
    if mirror.is_series(release):
        release = _newest_cached(release, target)
    target_dir = cache.target_cache(release, target.cache_name)
    sums_path, sig_path = target_dir / "sha256sums", target_dir / "sha256sums.sig"
    if not sums_path.is_file() or not sig_path.is_file():
        raise FetchError(
            f"no cached SDK for {release} {target.name} (--offline); fetch it once online",
            where=str(target_dir),
        )
    signed = _check(
        sums_path.read_bytes(),
        sig_path.read_bytes(),
        str(sums_path),
        str(sig_path),
        release,
        keys_dir,
    )
    sha256 = signed.sums[mirror.find_sdk_file(signed.sums, str(sums_path))]
    present = cache.read_entry(cache.entry_dir(target_dir, sha256))
    if present is None:
        raise FetchError(
            "the cached sha256sums names an SDK that is not unpacked in the cache (--offline); "
            "fetch it once online",
            where=str(target_dir),
        )
    return present


def _newest_cached(series: str, target: mirror.SdkTarget) -> str:
    releases = [
        d.parent.name
        for d in cache.target_dirs()
        if d.name == target.cache_name
        and d.parent.name.startswith(series + ".")
        and cache.entries(d)
    ]
    newest = mirror.newest_in_series(releases, series)
    if newest is None:
        raise FetchError(
            f"no cached {series}.x SDK for {target.name} (--offline); fetch it once online",
            where=str(cache.sdk_root()),
        )
    return newest


def unpack_local_sdk(archive: Path, say: Say | None = None) -> Path:
    """An SDK tarball given to ``--sdk``: unpacked safely into the cache once, by sha256."""
    if not archive.is_file() or not is_archive(archive):
        raise UsageError(
            "--sdk must be an SDK directory or a .tar.xz/.tar.zst archive", where=str(archive)
        )
    sha256 = file_sha256(archive)
    name = archive.name.split(".tar.")[0]
    target_dir = cache.target_cache(cache.LOCAL, name)
    with cache.locked(target_dir):
        cache.remove_stale(target_dir)
        entry = cache.entry_dir(target_dir, sha256)
        present = cache.read_entry(entry)
        if present is not None:
            return present.sdk_dir
        (say or (lambda _m: None))(f"unpacking {archive.name}")
        sdk = _unpack(
            archive,
            target_dir,
            sha256,
            str(archive),
            lambda top: cache.CachedSdk(
                entry=entry,
                release=cache.LOCAL,
                target=name,
                sdk_file=archive.name,
                sha256=sha256,
                sdk_dir=entry / top.name,
                kernel={},
                mirror=None,
            ),
        )
        return sdk.sdk_dir
