"""A synthetic OpenWrt download mirror: the real layout on disk, served by pytest-httpserver.

``SyntheticMirror`` writes ``.versions.json``, ``releases/<ver>/.targets.json`` and
``releases/<ver>/targets/<board>/<sub>/{sha256sums,sha256sums.sig,profiles.json,<sdk>}``
exactly as downloads.openwrt.org lays them out, signed with a usign test key.
``FileServer`` serves that directory like a static web server (Range, ETag, Last-Modified)
and can misbehave on purpose: answer 503, cut a body midway, ignore Range. Every request is
recorded with its headers and the bytes sent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import zstandard
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from kmodkit.formats import usign
from kmodkit.sdk import FetchOptions, HttpSettings

# Fast retries, short stalls: the server is local.
HTTP = HttpSettings(connect_timeout=5, stall_timeout=5, attempts=3, backoff=0.01)
RELEASE = "24.10.4"
SDK_FILE = "openwrt-sdk-{release}-{board}-{sub}_gcc-13.3.0_musl.Linux-x86_64.tar.{ext}"
VERMAGIC = "1745ebad77278f5cdc8330d17a3f43d6"


def tiny_sdk(root: Path, kernel_version: str = "6.6.93", vermagic: str = VERMAGIC) -> Path:
    """A small SDK-shaped tree (kernel build dir, .vermagic, internal symlinks)."""
    sdk = root / "openwrt-sdk-tiny"
    kdir = sdk / f"build_dir/target-x86_64_musl/linux-x86_64/linux-{kernel_version}"
    kdir.mkdir(parents=True)
    (kdir / ".vermagic").write_text(vermagic + "\n")
    (kdir / ".config").write_text("CONFIG_NETFILTER=y\n")
    (kdir / "Module.symvers").write_text("")
    (sdk / "include").mkdir()
    (sdk / "include/kernel-6.6").write_text(f"LINUX_VERSION-6.6 = .{kernel_version[4:]}\n")
    (sdk / "rules.mk").write_text("# rules\n")
    (sdk / "staging_dir/host/bin").mkdir(parents=True)
    (sdk / "staging_dir/host/bin/tool").write_text("#!/bin/sh\n")
    (sdk / "staging_dir/host/bin/tool").chmod(0o755)
    os.utime(sdk / "staging_dir/host/bin/tool", (1_700_000_000, 1_700_000_000))
    (sdk / "staging_dir/host/bin/tool-alias").symlink_to("tool")
    (sdk / "linux").symlink_to(str(kdir.relative_to(sdk)))
    return sdk


def pack(sdk: Path, out: Path, top: str | None = None) -> Path:
    """``sdk`` as a .tar.zst or .tar.xz (by ``out``'s name), under the top directory ``top``."""
    arcname = top or out.name.split(".tar.")[0]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(sdk, arcname=arcname)
    return write_compressed(buf.getvalue(), out)


def write_compressed(tar_bytes: bytes, out: Path) -> Path:
    if out.name.endswith(".tar.zst"):
        out.write_bytes(zstandard.ZstdCompressor(level=3).compress(tar_bytes))
    else:
        import lzma

        out.write_bytes(lzma.compress(tar_bytes, preset=1))
    return out


def evil_tar(kind: str) -> bytes:
    """An uncompressed tar with one hostile member after a harmless top directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        top = tarfile.TarInfo("sdk")
        top.type = tarfile.DIRTYPE
        top.mode = 0o755
        tar.addfile(top)
        info = tarfile.TarInfo(
            {"dotdot": "sdk/../../evil", "absolute": "/tmp/evil"}.get(kind, "sdk/x")
        )
        data = b"evil\n"
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../etc"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "../outside"
        elif kind == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        elif kind == "chain":
            # each link stays inside on its own; together they climb out of the root
            up = tarfile.TarInfo("sdk/up")
            up.type, up.linkname = tarfile.SYMTYPE, ".."
            tar.addfile(up)
            info = tarfile.TarInfo("sdk/out")
            info.type, info.linkname = tarfile.SYMTYPE, "up/.."
        if info.type == tarfile.REGTYPE:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        else:
            tar.addfile(info)
    return buf.getvalue()


@dataclass
class SyntheticMirror:
    root: Path
    key: usign.UsignSecretKey
    versions: list[str] = field(default_factory=list)

    def add_release(
        self,
        release: str,
        archive: Path,
        *,
        board: str = "x86",
        sub: str = "64",
        kernel_version: str = "6.6.93",
        vermagic: str = VERMAGIC,
        sign: bool = True,
    ) -> Path:
        """Publish ``archive`` as the SDK of ``release`` for board/sub; return the target dir."""
        ext = "zst" if archive.name.endswith(".zst") else "xz"
        if release == "snapshot":  # snapshots/targets/..., file names without a version
            tdir = self.root / "snapshots" / "targets" / board / sub
            name = SDK_FILE.format(release="", board=board, sub=sub, ext=ext).replace("--", "-")
        else:
            tdir = self.root / "releases" / release / "targets" / board / sub
            name = SDK_FILE.format(release=release, board=board, sub=sub, ext=ext)
        tdir.mkdir(parents=True, exist_ok=True)
        (tdir / name).write_bytes(archive.read_bytes())
        profiles = {
            "arch_packages": "x86_64",
            "linux_kernel": {"version": kernel_version, "release": "1", "vermagic": vermagic},
            "target": f"{board}/{sub}",
            "version_number": release,
        }
        (tdir / "profiles.json").write_text(json.dumps(profiles, indent=1))
        self.resign(tdir, sign=sign)
        base = self.root / ("snapshots" if release == "snapshot" else f"releases/{release}")
        targets_json = base / ".targets.json"
        known = json.loads(targets_json.read_text()) if targets_json.exists() else {}
        known[f"{board}/{sub}"] = "x86_64"
        targets_json.write_text(json.dumps(known))
        if release == "snapshot":
            return tdir
        if release not in self.versions:
            self.versions.append(release)
        (self.root / ".versions.json").write_text(
            json.dumps(
                {
                    "stable_version": self.versions[-1],
                    "oldstable_version": self.versions[0],
                    "versions_list": sorted(self.versions, reverse=True),
                }
            )
        )
        return tdir

    def resign(
        self, tdir: Path, *, sign: bool = True, key: usign.UsignSecretKey | None = None
    ) -> None:
        """Rewrite sha256sums for every file of ``tdir`` and sign it."""
        lines = [
            f"{hashlib.sha256(p.read_bytes()).hexdigest()} *{p.name}\n"
            for p in sorted(tdir.iterdir())
            if p.is_file() and not p.name.startswith("sha256sums")
        ]
        sums = "".join(lines).encode()
        (tdir / "sha256sums").write_bytes(sums)
        if sign:
            sig = usign.sign(sums, key or self.key)
            (tdir / "sha256sums.sig").write_text(sig.to_text())

    def sdk_path(self, tdir: Path) -> Path:
        return next(tdir.glob("openwrt-sdk-*"))


@dataclass
class Served:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class FileServer:
    """Serve ``root`` like a static server; knobs make it fail on purpose."""

    root: Path
    log: list[Served] = field(default_factory=list)
    fail_503: dict[str, int] = field(default_factory=dict)  # path -> answers left to fail
    cut_once: dict[str, int] = field(default_factory=dict)  # path -> byte to cut the body at
    ignore_range: bool = False
    down: bool = False  # every answer is 503
    delay: dict[str, float] = field(default_factory=dict)  # path suffix -> seconds before answering
    throttle: str = ""  # path suffix whose body trickles out (64 KiB every 20 ms)

    def __call__(self, request: Request) -> Response:
        path = request.path.lstrip("/")
        headers = dict(request.headers.items())
        for suffix, seconds in self.delay.items():
            if path.endswith(suffix):
                time.sleep(seconds)
        if self.down or self.fail_503.get(path, 0) > 0:
            self.fail_503[path] = self.fail_503.get(path, 1) - 1
            return self._record(path, headers, Response(b"busy", status=503), b"busy")
        file = (self.root / path).resolve()
        if not file.is_file() or not str(file).startswith(str(self.root.resolve())):
            return self._record(path, headers, Response(b"not found", status=404), b"")
        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        stamp = formatdate(file.stat().st_mtime, usegmt=True)
        meta = {"ETag": etag, "Last-Modified": stamp, "Accept-Ranges": "bytes"}
        if self.ignore_range:
            meta.pop("Accept-Ranges")
        if request.headers.get("If-None-Match") == etag:
            return self._record(path, headers, Response(status=304, headers=meta), b"")
        start = 0
        ranged = request.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-", ranged or "")
        status = 200
        if match and not self.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                return self._record(path, headers, Response(status=416), b"")
            status = 206
            meta["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        meta["Content-Length"] = str(len(body))
        cut = self.cut_once.pop(path, None)
        if cut is not None:
            sent = body[: cut - start]

            def broken() -> object:
                yield sent
                raise ConnectionAbortedError("mirror cut the connection on purpose")

            self.log.append(Served(path, status, headers, sent))
            return Response(broken(), status=status, headers=meta)
        if self.throttle and path.endswith(self.throttle):

            def slow() -> object:
                for offset in range(0, len(body), 64 << 10):
                    time.sleep(0.02)
                    yield body[offset : offset + (64 << 10)]

            self.log.append(Served(path, status, headers, body))
            return Response(slow(), status=status, headers=meta)
        return self._record(path, headers, Response(body, status=status, headers=meta), body)

    def _record(self, path: str, headers: dict[str, str], resp: Response, body: bytes) -> Response:
        self.log.append(Served(path, resp.status_code, headers, body))
        return resp

    def requests_for(self, suffix: str) -> list[Served]:
        return [s for s in self.log if s.path.endswith(suffix)]


@dataclass
class Mirror:
    url: str
    site: SyntheticMirror
    server: FileServer
    tdir: Path  # the x86/64 target directory of RELEASE
    keys: Path

    @property
    def sdk(self) -> Path:
        return self.site.sdk_path(self.tdir)

    def options(self, release: str = RELEASE, target: str = "x86/64", **kw: object) -> FetchOptions:
        fields: dict[str, object] = {"mirrors": (self.url,), "keys_dir": self.keys, "http": HTTP}
        fields.update(kw)
        return FetchOptions(release=release, target=target, **fields)  # type: ignore[arg-type]


def serve(httpserver: HTTPServer, root: Path) -> FileServer:
    server = FileServer(root)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(server)
    return server


def add_fake_images(site: SyntheticMirror, tdir: Path, release: str, board: str, sub: str) -> dict:
    """Tiny FAKE image files (not bootable: no OpenWrt image can be had here) under the names
    OpenWrt's image Makefiles give them, plus decoys, and sha256sums re-signed over them."""
    import gzip

    version = "" if release == "snapshot" else f"{release}-"
    prefix = f"openwrt-{version}{board}-{sub}-generic-"
    files = {
        "kernel": (prefix + "kernel.bin", b"FAKE kernel.bin for tests\n" * 100),
        "rootfs": (
            prefix + "ext4-rootfs.img.gz",
            gzip.compress(b"FAKE ext4 rootfs for tests\n" * 1000, mtime=0),
        ),
        "decoy1": (prefix + "squashfs-rootfs.img.gz", gzip.compress(b"FAKE squashfs", mtime=0)),
        "decoy2": (prefix + "ext4-combined-efi.img.gz", gzip.compress(b"FAKE combined", mtime=0)),
    }
    for name, data in files.values():
        (tdir / name).write_bytes(data)
    site.resign(tdir)
    return {kind: tdir / name for kind, (name, _data) in files.items()}
