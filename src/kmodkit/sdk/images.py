"""Official OpenWrt images (kernel + ext4 rootfs) from a mirror, verified like the SDK.

The same chain of trust as ``fetch_sdk``: ``sha256sums`` checked against its usign
``sha256sums.sig`` with the pinned key of the release series, each file's sha256 from it.
File names are matched in ``sha256sums`` by the pattern OpenWrt's image Makefiles produce
(``<IMG_PREFIX>-generic-kernel.bin``, ``<IMG_PREFIX>-generic-ext4-rootfs.img.gz``, where
IMG_PREFIX is ``openwrt-[<version>-]<board>-<subtarget>``), never guessed from a version.
The ext4 rootfs is chosen because packages installed on it survive the reboot that loads them.

Cache: ``$KMODKIT_CACHE/images/<release>/<board>-<sub>/<sha256-prefix>-<file>``, renamed into
place only once its sha256 matched; a later fetch re-hashes it against the signed sums.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kmodkit import resources
from kmodkit.errors import FetchError
from kmodkit.fsutil import file_sha256
from kmodkit.sdk import cache, mirror
from kmodkit.sdk.download import ByteProgress
from kmodkit.sdk.fetch import (
    FetchOptions,
    download_checked,
    fetch_profiles,
    open_client,
    point_release,
    signed_sums,
)

Say = Callable[[str], None]
KINDS = (("kernel", "kernel.bin"), ("rootfs", "ext4-rootfs.img.gz"))


@dataclass(frozen=True)
class ImageFiles:
    """The names (as in sha256sums) of one target's kernel and rootfs image."""

    kernel: str
    rootfs: str


@dataclass(frozen=True)
class FetchedImage:
    release: str
    target: str
    files: ImageFiles
    kernel: Path  # verified, as downloaded
    rootfs_gz: Path  # verified, still gzip-compressed (each boot writes its own copy)
    linux: mirror.KernelInfo  # profiles.json linux_kernel: what the feed must be built for
    mirror: str
    downloaded: list[str]  # files downloaded by this call (others came from the cache)


def find_image_files(
    sums: dict[str, str], target: mirror.SdkTarget, release: str, url: str
) -> ImageFiles:
    """The generic kernel and ext4 rootfs of ``target`` named in ``sha256sums``."""
    version = "" if release == mirror.SNAPSHOT else release.lower() + "-"
    prefix = f"openwrt-{version}{target.board}-{target.subtarget}-generic-"
    found: dict[str, str] = {}
    for kind, suffix in KINDS:
        if prefix + suffix not in sums:
            images = sorted(n for n in sums if n.endswith((".bin", ".img.gz", ".img")))
            raise FetchError(
                f"no {prefix}{suffix} listed (images there: {', '.join(images) or 'none'})",
                where=url,
            )
        found[kind] = prefix + suffix
    return ImageFiles(found["kernel"], found["rootfs"])


def images_root() -> Path:
    return resources.cache_dir() / "images"


def fetch_image(
    options: FetchOptions, *, say: Say | None = None, on_bytes: ByteProgress | None = None
) -> FetchedImage:
    note = say or (lambda _msg: None)
    target = mirror.parse_target(options.target)
    release = mirror.check_release(options.release)
    client = open_client(options, on_bytes)
    try:
        release = point_release(client, release, note)
        signed = signed_sums(client, release, target, options.keys_dir)
        files = find_image_files(signed.sums, target, release, signed.url)
        base = mirror.target_dir(release, target)
        linux, _profiles_url = fetch_profiles(client, base, signed.sums)
        target_dir = images_root() / release / target.cache_name
        target_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        downloaded: list[str] = []
        with cache.locked(target_dir):
            for name in (files.kernel, files.rootfs):
                sha256 = signed.sums[name]
                final = target_dir / f"{sha256[: cache.PREFIX_LEN]}-{name}"
                if final.is_file() and file_sha256(final) == sha256:
                    paths[name] = final
                    continue
                final.unlink(missing_ok=True)
                part = final.with_name(final.name + ".part")
                note(f"downloading {name}")
                download_checked(client, f"{base}/{name}", part, sha256)
                part.rename(final)
                paths[name] = final
                downloaded.append(name)
        return FetchedImage(
            release=release,
            target=target.name,
            files=files,
            kernel=paths[files.kernel],
            rootfs_gz=paths[files.rootfs],
            linux=linux,
            mirror=signed.url.removesuffix(f"/{base}/sha256sums"),
            downloaded=downloaded,
        )
    finally:
        client.close()
