"""Fixtures for SDK fetching: a synthetic mirror in the real layout on a 127.0.0.1 server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

import sdk_mirror
from kmodkit.formats import usign
from sdk_mirror import RELEASE, Mirror, serve


@pytest.fixture(scope="session")
def signing_key() -> usign.UsignSecretKey:
    secret, _ = usign.generate_keypair("kmodkit test mirror")
    return secret


@pytest.fixture(scope="session")
def sdk_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny SDK packed both ways, with 3 MiB of incompressible bytes to cut midway."""
    root = tmp_path_factory.mktemp("tiny-sdk")
    sdk = sdk_mirror.tiny_sdk(root)
    (sdk / "staging_dir/host/blob.bin").write_bytes(os.urandom(3 << 20))
    out = tmp_path_factory.mktemp("archives")
    top = f"openwrt-sdk-{RELEASE}-x86-64_gcc-13.3.0_musl.Linux-x86_64"
    return {ext: sdk_mirror.pack(sdk, out / f"sdk.tar.{ext}", top=top) for ext in ("zst", "xz")}


@pytest.fixture()
def keys_dir(tmp_path: Path, signing_key: usign.UsignSecretKey) -> Path:
    """The signer's usign public key under its key id, as ``--keys DIR`` expects."""
    path = tmp_path / "keys"
    path.mkdir()
    (path / signing_key.key_id_hex).write_text(signing_key.public_key().to_text())
    return path


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test fetches into an empty cache of its own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KMODKIT_CACHE", str(cache))
    monkeypatch.delenv("KMODKIT_MIRROR", raising=False)
    return cache


@pytest.fixture()
def mirror(
    httpserver: HTTPServer,
    tmp_path: Path,
    signing_key: usign.UsignSecretKey,
    sdk_archives: dict[str, Path],
    keys_dir: Path,
) -> Mirror:
    site = sdk_mirror.SyntheticMirror(tmp_path / "www", signing_key)
    tdir = site.add_release(RELEASE, sdk_archives["zst"])
    server = serve(httpserver, site.root)
    return Mirror(httpserver.url_for("").rstrip("/"), site, server, tdir, keys_dir)


@pytest.fixture()
def other_server() -> Iterator[HTTPServer]:
    """A second, independent mirror host."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()
