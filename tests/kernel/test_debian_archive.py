"""The signed-archive chain against a real local HTTP server and a real gpg-signed InRelease.

A throwaway GnuPG key (made per session with the real gpg) signs the InRelease; gpgv checks
it. Each test breaks one link: signature, Packages.xz hash, .deb hash.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.debian_archive import (
    AptSource,
    DebianArchive,
    ar_members,
    deb_files,
    debian_sources,
)


def make_deb(files: dict[str, bytes]) -> bytes:
    """A real .deb (ar: debian-binary, control.tar.xz, data.tar.xz)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", b""),
        ("data.tar.xz", data.getvalue()),
    ]
    out = b"!<arch>\n"
    for name, body in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        out += body + (b"\n" if len(body) % 2 else b"")
    return out


@pytest.fixture(scope="module")
def gpg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "kmodkit test <t@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    keyring = home / "debian-archive-test.gpg"
    keyring.write_bytes(
        subprocess.run(["gpg", "--export"], check=True, capture_output=True, env=env).stdout
    )
    return home


def clearsign(home: Path, text: str) -> bytes:
    env = {**os.environ, "GNUPGHOME": str(home)}
    return subprocess.run(
        ["gpg", "--batch", "--clearsign"],
        input=text.encode(),
        check=True,
        capture_output=True,
        env=env,
    ).stdout


DEB_FILES = {
    "usr/src/linux-headers-6.1.0-9-arm64/.config": b"CONFIG_ARM64=y\n",
    "usr/src/linux-headers-6.1.0-9-arm64/Module.symvers": b"0x1\tprintk\tvmlinux\tEXPORT\t\n",
}


def serve_archive(server: HTTPServer, home: Path, *, tamper: str = "") -> AptSource:
    deb = make_deb(DEB_FILES)
    filename = "pool/main/l/linux/linux-headers-6.1.0-9-arm64_6.1.1-1_arm64.deb"
    deb_sha = hashlib.sha256(deb).hexdigest()
    if tamper == "deb":
        deb = deb[:-1] + b"X"
    packages = (
        "Package: linux-headers-6.1.0-9-arm64\nVersion: 6.1.1-1\n"
        f"Filename: {filename}\nSize: {len(deb)}\nSHA256: {deb_sha}\n\n"
    )
    xz = lzma.compress(packages.encode())
    index_sha = hashlib.sha256(xz).hexdigest()
    release = f"Suite: bookworm\nSHA256:\n {index_sha} {len(xz)} main/binary-arm64/Packages.xz\n"
    signed = clearsign(home, release)
    if tamper == "signature":
        signed = signed.replace(b"Suite: bookworm", b"Suite: evilworm")
    if tamper == "packages":
        xz = lzma.compress(packages.replace("6.1.1-1", "6.1.1-2").encode())
    server.expect_request("/debian/dists/bookworm/InRelease").respond_with_data(signed)
    server.expect_request("/debian/dists/bookworm/main/binary-arm64/Packages.xz").respond_with_data(
        xz
    )
    server.expect_request("/debian/" + filename).respond_with_data(deb)
    return AptSource(
        server.url_for("/debian"), "bookworm", ("main",), home / "debian-archive-test.gpg"
    )


def test_verified_download_and_extraction(
    httpserver: HTTPServer, gpg_home: Path, tmp_path: Path
) -> None:
    source = serve_archive(httpserver, gpg_home)
    archive = DebianArchive([source], tmp_path / "cache")
    found = [(s, p) for s, p in archive.packages("arm64")]
    assert [p["Package"] for _, p in found] == ["linux-headers-6.1.0-9-arm64"]
    deb = archive.download(*found[0])
    assert set(ar_members(deb.read_bytes(), str(deb))) == {
        "debian-binary",
        "control.tar.xz",
        "data.tar.xz",
    }
    out = tmp_path / "out"
    deb_files(deb, {name: out / name.rsplit("/", 1)[-1] for name in DEB_FILES})
    assert (out / ".config").read_bytes() == b"CONFIG_ARM64=y\n"
    assert archive.download(*found[0]) == deb  # cached by hash: no second request needed


@pytest.mark.parametrize(
    ("tamper", "message", "url_part"),
    [
        ("signature", "InRelease signature is not valid", "InRelease"),
        ("packages", "Packages.xz does not match the signed InRelease", "Packages.xz"),
        ("deb", "does not match its SHA256 in Packages", ".deb"),
    ],
)
def test_each_broken_link_stops_naming_the_url(
    httpserver: HTTPServer, gpg_home: Path, tmp_path: Path, tamper: str, message: str, url_part: str
) -> None:
    source = serve_archive(httpserver, gpg_home, tamper=tamper)
    archive = DebianArchive([source], tmp_path / "cache")
    with pytest.raises(KernelTreeError) as err:
        for src, stanza in archive.packages("arm64"):
            archive.download(src, stanza)
    assert message in str(err.value) and url_part in str(err.value)
    assert not (tmp_path / "cache" / "debs").exists()


def test_only_debian_signed_sources_are_used(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
        "Components: main\nSigned-By: /usr/share/keyrings/nodesource.gpg\n"
    )
    (tmp_path / "sources.list").write_text(
        "deb http://deb.debian.org/debian-security bookworm-security main\n"
        "deb [signed-by=/etc/other.gpg] https://packages.example.org/apt stable main\n"
        "deb-src http://deb.debian.org/debian bookworm main\n"
    )
    found = [(s.uri, s.suite) for s in debian_sources(tmp_path)]
    assert found == [
        ("http://deb.debian.org/debian-security", "bookworm-security"),
        ("http://deb.debian.org/debian", "bookworm"),
        ("http://deb.debian.org/debian", "bookworm-updates"),
    ]
