"""The kernel a feed targets, as a bootable image: Debian's ``linux-image-<abi>-<flavour>``.

The distro feed is built against the installed ``linux-headers-<abi>-<flavour>``; the image of
the same name and Debian version is fetched with ``apt-get download`` (apt checks it against the
signed index), its SHA256 is compared once more with the ``apt-cache show`` record, and only the
few files a boot needs are extracted (never installed): ``boot/vmlinuz-*``, ``boot/config-*``
and the modules the scenario uses from the kernel itself (``veth.ko``).
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from kmodkit.errors import FetchError, FormatError, KernelTreeError
from kmodkit.formats.tarball import read_ar
from kmodkit.fsutil import atomic_write_bytes, file_sha256
from kmodkit.kernel.tree import parse_config
from kmodkit.kernel.vermagic import kernel_vermagic, openwrt_vermagic_hash

Progress = Callable[[str], None]
APT_LOCK = ["-o", "DPkg::Lock::Timeout=300"]
# Modules of the kernel package itself that the scenario needs (path below lib/modules/<rel>/).
KERNEL_MODULES = ("kernel/drivers/net/veth.ko",)
# Config symbols that change how the kernel is built, not its module ABI: Debian's headers
# package has CONFIG_MODULE_SIG_ALL=y (modules signed at build time), its image config does
# not, so the hash of the headers' .config (the feed's) differs from the image's by this line.
BUILD_ONLY_SYMBOLS = ("CONFIG_MODULE_SIG_ALL",)


@dataclass(frozen=True)
class KernelImage:
    """An extracted kernel: the image QEMU boots plus what identifies it."""

    release: str  # uname -r, e.g. 6.1.0-50-amd64
    version: str  # kernel version, e.g. 6.1.176
    image: Path
    config: Path | None
    modules: dict[str, Path]  # module name (veth) -> .ko
    source: str  # where it came from (deb file name and version, or the given path)

    @property
    def vermagic_hash(self) -> str | None:
        return openwrt_vermagic_hash(self.config.read_bytes()) if self.config else None

    def config_hashes(self) -> dict[str, str]:
        """OpenWrt config hashes this image answers to -> how (see BUILD_ONLY_SYMBOLS)."""
        if self.config is None:
            return {}
        text = self.config.read_bytes()
        hashes = {openwrt_vermagic_hash(text): "its config"}
        lines = text.split(b"\n")
        for symbol in BUILD_ONLY_SYMBOLS:
            on = symbol.encode() + b"=y"
            toggled = [ln for ln in lines if ln != on] if on in lines else [*lines, on]
            how = f"its config with {symbol}{' unset' if on in lines else '=y'}"
            hashes.setdefault(openwrt_vermagic_hash(b"\n".join(toggled)), how)
        return hashes

    @property
    def vermagic(self) -> str | None:
        if self.config is None:
            return None
        return kernel_vermagic(self.release, parse_config(self.config.read_text(errors="replace")))


def debian_version_to_kernel(version: str) -> str:
    """``6.1.176-1`` -> ``6.1.176`` (the upstream part of the Debian version)."""
    return re.sub(r"^\d+:", "", version).rsplit("-", 1)[0]


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def apt_record(package: str, version: str | None = None) -> dict[str, str] | None:
    """The ``apt-cache show`` record of ``package`` (at ``version``), or None if unknown."""
    if shutil.which("apt-cache") is None:
        return None
    spec = f"{package}={version}" if version else package
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", spec],
        capture_output=True,
        text=True,
        check=False,
        env=_apt_env(),
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    record: dict[str, str] = {}
    for line in result.stdout.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            record[key] = value.strip()
    return record


def apt_update(progress: Progress | None) -> None:
    if progress:
        progress("apt-get update")
    subprocess.run(
        ["apt-get", *APT_LOCK, "update"], capture_output=True, env=_apt_env(), check=False
    )


def fetch_deb(
    package: str, version: str | None, dest_dir: Path, progress: Progress | None = None
) -> Path:
    """``apt-get download`` one package into ``dest_dir`` and check its SHA256 with the index."""
    if shutil.which("apt-get") is None:
        raise FetchError(f"apt-get not found; cannot fetch {package}")
    record = apt_record(package, version)
    if record is None:
        apt_update(progress)
        record = apt_record(package, version)
    spec = f"{package}={version}" if version else package
    if record is None:
        raise FetchError(f"apt knows no package {spec} (after apt-get update)")
    name = Path(record.get("Filename", f"{package}.deb")).name
    dest = dest_dir / name
    if dest.is_file() and file_sha256(dest) == record.get("SHA256"):
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"apt-get download {spec}")
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".download.") as tmp:
        os.chmod(tmp, 0o755)  # apt's _apt sandbox user must be able to write there
        result = subprocess.run(
            ["apt-get", *APT_LOCK, "download", spec],
            cwd=tmp,
            capture_output=True,
            text=True,
            env=_apt_env(),
            check=False,
        )
        downloaded = sorted(Path(tmp).glob("*.deb"))
        if result.returncode != 0 or not downloaded:
            tail = (result.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise FetchError(f"`apt-get download {spec}` failed: {tail}")
        got = file_sha256(downloaded[0])
        if record.get("SHA256") and got != record["SHA256"]:
            raise FetchError(
                f"{downloaded[0].name}: SHA256 {got} differs from the apt index "
                f"({record['SHA256']})"
            )
        os.replace(downloaded[0], dest)
    return dest


def _data_tar(deb: Path) -> tarfile.TarFile:
    members = {m.name.rstrip("/"): m.data for m in read_ar(deb.read_bytes(), str(deb))}
    raw: Any  # a readable byte stream (LZMAFile, GzipFile, zstd reader, BytesIO)
    if "data.tar.xz" in members:
        raw = lzma.open(io.BytesIO(members["data.tar.xz"]))  # noqa: SIM115
    elif "data.tar.gz" in members:
        raw = gzip.open(io.BytesIO(members["data.tar.gz"]))  # noqa: SIM115
    elif "data.tar.zst" in members:
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(members["data.tar.zst"]))
    elif "data.tar" in members:
        raw = io.BytesIO(members["data.tar"])
    else:
        raise FormatError(f"no data.tar.* member (have {sorted(members)})", where=str(deb))
    return tarfile.open(fileobj=raw, mode="r|")


def extract_kernel_deb(deb: Path, dest: Path) -> KernelImage:
    """Pull vmlinuz, config and the scenario's kernel modules out of a linux-image .deb."""
    marker = dest / "release"
    if not marker.is_file():
        wanted = re.compile(
            r"^\.?/?(boot/(vmlinuz|vmlinux|Image|config)-[^/]+"
            r"|lib/modules/[^/]+/(" + "|".join(map(re.escape, KERNEL_MODULES)) + r"))$"
        )
        found: dict[str, bytes] = {}
        with _data_tar(deb) as tar:
            for member in tar:
                if member.isfile() and wanted.match(member.name):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        found[member.name.lstrip("./")] = fh.read()
        images = [n for n in found if re.match(r"boot/(vmlinuz|vmlinux|Image)-", n)]
        if not images:
            raise FormatError("no boot/vmlinuz-* in the package", where=str(deb))
        release = images[0].split("-", 1)[1]
        for name, data in found.items():
            atomic_write_bytes(dest / name, data)
        atomic_write_bytes(marker, release.encode() + b"\n")
    return _load_extracted(dest, f"{deb.name}")


def _load_extracted(dest: Path, source: str) -> KernelImage:
    release = (dest / "release").read_text().strip()
    image = next(
        (
            dest / "boot" / f"{kind}-{release}"
            for kind in ("vmlinuz", "Image", "vmlinux")
            if (dest / "boot" / f"{kind}-{release}").is_file()
        ),
        None,
    )
    if image is None:
        raise KernelTreeError(f"no kernel image in {dest}/boot")
    config = dest / "boot" / f"config-{release}"
    modules = {
        p.name.removesuffix(".ko"): p for p in sorted((dest / "lib" / "modules").rglob("*.ko"))
    }
    version = _kernel_version(config) if config.is_file() else release.split("-")[0]
    return KernelImage(
        release=release,
        version=version,
        image=image,
        config=config if config.is_file() else None,
        modules=modules,
        source=source,
    )


def _kernel_version(config: Path) -> str:
    """``# Linux/x86 6.1.176 Kernel Configuration`` -> ``6.1.176``."""
    for line in config.read_text(errors="replace").splitlines()[:5]:
        match = re.search(r"Linux/\S+ (\S+) Kernel Configuration", line)
        if match:
            return match.group(1)
    raise KernelTreeError(f"{config}: no kernel version in its header")


def bzimage_release(image: bytes) -> str | None:
    """The ``uname -r`` an x86 bzImage announces (setup header ``kernel_version``), if any."""
    if len(image) < 0x210 or image[0x202:0x206] != b"HdrS":
        return None
    offset = int.from_bytes(image[0x20E:0x210], "little") + 0x200
    text = image[offset : offset + 256].split(b"\0", 1)[0].decode("ascii", "replace")
    return text.split(" ", 1)[0] or None


def distro_kernel_image(
    release: str, deb_version: str | None, cache: Path, progress: Progress | None = None
) -> KernelImage:
    """Fetch (once) and extract Debian's image for ``release`` (e.g. ``6.1.0-50-amd64``)."""
    package = f"linux-image-{release}"
    root = cache / "boottest" / "kernels"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{package}.lock")):
        dest = root / f"{package}_{deb_version or 'candidate'}"
        if (dest / "release").is_file() and deb_version:
            return _load_extracted(dest, f"{package} {deb_version} (cached)")
        deb = fetch_deb(package, deb_version, cache / "boottest" / "debs", progress)
        if progress:
            progress(f"extracting {deb.name}")
        image = extract_kernel_deb(deb, dest)
    if image.release != release:
        raise KernelTreeError(f"{deb.name} holds kernel {image.release}, not {release}")
    return image


def given_kernel_image(path: Path, cache: Path) -> KernelImage:
    """--kernel-image: a linux-image .deb, or a bare bzImage (identity from its header)."""
    if not path.is_file():
        raise KernelTreeError(f"--kernel-image {path}: no such file")
    if path.suffix == ".deb":
        dest = cache / "boottest" / "kernels" / f"{path.stem}_{file_sha256(path)[:16]}"
        return extract_kernel_deb(path, dest)
    release = bzimage_release(path.read_bytes())
    if release is None:
        raise KernelTreeError(
            f"--kernel-image {path}: neither a .deb nor an x86 bzImage announcing its release"
        )
    return KernelImage(release, release.split("-")[0], path, None, {}, str(path))


# Debian architecture of each QEMU machine (foreign ones come from the signed archive).
DEBIAN_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


def archive_boot_files(
    release: str, kernel_version: str, machine: str, cache: Path, progress: Progress | None = None
) -> tuple[KernelImage, Path]:
    """A foreign architecture's kernel image and static busybox from Debian's signed archive.

    apt on this host does not fetch foreign packages (that would need ``dpkg
    --add-architecture``), so both come through kmodkit.kernel.debian_archive: the InRelease
    checked with gpgv, Packages.xz against it, each .deb against its SHA256 in Packages. The
    image is the ``linux-image-<release>`` whose version is the feed's kernel; busybox the newest.
    """
    from kmodkit.kernel.debian_archive import DebianArchive, debian_sources

    arch = DEBIAN_ARCHES[machine]
    archive = DebianArchive(debian_sources(), cache / "debian")
    if progress:
        progress(f"reading the signed Debian archive index (binary-{arch})")
    images, busyboxes = [], []
    for source, stanza in archive.packages(arch):
        package = stanza.get("Package")
        if package == f"linux-image-{release}":
            images.append((source, stanza))
        elif package == "busybox-static":
            busyboxes.append((source, stanza))
    wanted = [i for i in images if debian_version_to_kernel(i[1]["Version"]) == kernel_version]
    if not wanted or not busyboxes:
        missing = f"linux-image-{release} ({kernel_version})" if not wanted else "busybox-static"
        raise KernelTreeError(f"no {missing} in the configured Debian archive's binary-{arch}")
    source, stanza = wanted[-1]
    dest = cache / "boottest" / "kernels" / f"linux-image-{release}_{stanza['Version']}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.parent / f".linux-image-{release}.lock")):
        if not (dest / "release").is_file():
            if progress:
                progress(f"fetching linux-image-{release} {stanza['Version']} ({arch})")
            extract_kernel_deb(archive.download(source, stanza), dest)
        image = _load_extracted(dest, f"linux-image-{release} {stanza['Version']} ({arch})")
        bb_source, bb_stanza = busyboxes[-1]
        busybox = cache / "boottest" / "busybox" / arch / bb_stanza["Version"] / "busybox"
        if not busybox.is_file():
            from kmodkit.kernel.debian_archive import deb_files

            deb_files(archive.download(bb_source, bb_stanza), {"bin/busybox": busybox})
    return image, busybox
