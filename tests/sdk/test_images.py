"""Official-image selection and fetch against the synthetic mirror on 127.0.0.1 (no internet).

The image files are tiny FAKES named as OpenWrt names them (see sdk_mirror.add_fake_images);
what is tested is selection, the usign chain of trust, the sha256 check and the cache.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

import sdk_mirror
from kmodkit.errors import FetchError, SignatureError
from kmodkit.sdk.images import fetch_image, find_image_files
from kmodkit.sdk.mirror import SdkTarget
from sdk_mirror import RELEASE, Mirror

X86 = SdkTarget("x86", "64")
ARMSR = SdkTarget("armsr", "armv8")
H = "0" * 64


def sums(*names: str) -> dict[str, str]:
    return dict.fromkeys(names, H)


def test_selection_takes_the_generic_kernel_and_ext4_rootfs_of_the_release() -> None:
    listed = sums(
        "openwrt-24.10.4-x86-64-generic-kernel.bin",
        "openwrt-24.10.4-x86-64-generic-ext4-rootfs.img.gz",
        "openwrt-24.10.4-x86-64-generic-squashfs-rootfs.img.gz",
        "openwrt-24.10.4-x86-64-generic-ext4-combined-efi.img.gz",
        "openwrt-24.10.4-x86-64-rootfs.tar.gz",
        "openwrt-sdk-24.10.4-x86-64_gcc-13.3.0_musl.Linux-x86_64.tar.zst",
    )
    files = find_image_files(listed, X86, "24.10.4", "u")
    assert files.kernel == "openwrt-24.10.4-x86-64-generic-kernel.bin"
    assert files.rootfs == "openwrt-24.10.4-x86-64-generic-ext4-rootfs.img.gz"


def test_selection_for_armsr_and_snapshot_names_without_a_version() -> None:
    listed = sums(
        "openwrt-armsr-armv8-generic-kernel.bin",
        "openwrt-armsr-armv8-generic-ext4-rootfs.img.gz",
    )
    files = find_image_files(listed, ARMSR, "snapshot", "u")
    assert files.kernel == "openwrt-armsr-armv8-generic-kernel.bin"
    # another release's files are not taken for this one
    with pytest.raises(FetchError, match=r"openwrt-24\.10\.4-armsr-armv8-generic-kernel\.bin"):
        find_image_files(listed, ARMSR, "24.10.4", "u")


def test_selection_without_an_ext4_rootfs_names_what_is_there() -> None:
    listed = sums(
        "openwrt-24.10.4-x86-64-generic-kernel.bin",
        "openwrt-24.10.4-x86-64-generic-squashfs-rootfs.img.gz",
    )
    with pytest.raises(FetchError) as err:
        find_image_files(listed, X86, "24.10.4", "https://m/sha256sums")
    assert err.value.where == "https://m/sha256sums"
    assert "ext4-rootfs.img.gz" in err.value.message
    assert "squashfs-rootfs.img.gz" in err.value.message


def test_fetch_verifies_downloads_and_caches_the_images(mirror: Mirror, own_cache: Path) -> None:
    fakes = sdk_mirror.add_fake_images(mirror.site, mirror.tdir, RELEASE, "x86", "64")
    image = fetch_image(mirror.options())
    assert image.release == RELEASE and image.target == "x86/64"
    assert image.kernel.read_bytes() == fakes["kernel"].read_bytes()
    assert image.rootfs_gz.read_bytes() == fakes["rootfs"].read_bytes()
    assert image.kernel.is_relative_to(own_cache / "images" / RELEASE / "x86-64")
    assert image.linux.vermagic == sdk_mirror.VERMAGIC and image.linux.version == "6.6.93"
    assert sorted(image.downloaded) == sorted(p.name for p in (fakes["kernel"], fakes["rootfs"]))
    assert not mirror.server.requests_for("squashfs-rootfs.img.gz")
    assert not mirror.server.requests_for(".tar.zst")  # the SDK is not fetched for an image
    before = len(mirror.server.log)
    again = fetch_image(mirror.options())
    assert again.downloaded == [] and again.kernel == image.kernel
    assert not [s for s in mirror.server.log[before:] if s.path.endswith((".bin", ".gz"))]


def test_series_resolves_and_rootfs_stays_compressed_in_the_cache(mirror: Mirror) -> None:
    fakes = sdk_mirror.add_fake_images(mirror.site, mirror.tdir, RELEASE, "x86", "64")
    image = fetch_image(mirror.options(release="24.10"))
    assert image.release == RELEASE
    assert gzip.decompress(image.rootfs_gz.read_bytes()).startswith(b"FAKE ext4 rootfs")
    assert (
        hashlib.sha256(image.rootfs_gz.read_bytes()).hexdigest()
        == hashlib.sha256(fakes["rootfs"].read_bytes()).hexdigest()
    )


def test_a_tampered_image_is_refused_and_not_cached(mirror: Mirror, own_cache: Path) -> None:
    fakes = sdk_mirror.add_fake_images(mirror.site, mirror.tdir, RELEASE, "x86", "64")
    fakes["kernel"].write_bytes(b"FAKE kernel, tampered after signing\n")
    with pytest.raises(FetchError, match="differs from the signed sha256sums") as err:
        fetch_image(mirror.options())
    assert err.value.where and err.value.where.endswith("generic-kernel.bin")
    cached = own_cache / "images" / RELEASE / "x86-64"
    assert not [p for p in cached.iterdir() if p.name.endswith((".bin", ".part"))]


def test_a_signature_by_another_key_stops_before_any_image_download(mirror: Mirror) -> None:
    sdk_mirror.add_fake_images(mirror.site, mirror.tdir, RELEASE, "x86", "64")
    from kmodkit.formats import usign

    other, _ = usign.generate_keypair("not the pinned key")
    mirror.site.resign(mirror.tdir, key=other)
    with pytest.raises(SignatureError):
        fetch_image(mirror.options())
    assert not [s for s in mirror.server.log if s.path.endswith((".bin", ".img.gz"))]
