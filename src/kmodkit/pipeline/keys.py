"""Signing keys for a build: the user's, or a local build key made once in the cache.

Like OpenWrt's key-build: a feed is always signed; with no key configured a private key is
generated once (0600) under the cache and reused, so repeated builds sign with the same key.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from kmodkit.errors import UsageError
from kmodkit.formats import apk_sign, usign
from kmodkit.fsutil import atomic_write_bytes, atomic_write_text

LOCAL_COMMENT = "kmodkit local build key"


@dataclass(frozen=True)
class BuildKeys:
    usign_secret: usign.UsignSecretKey
    usign_public: usign.UsignPublicKey
    usign_public_text: str
    apk_private: apk_sign.PrivateKey
    apk_public_pem: bytes
    generated: bool  # True when the local key was created by this call

    @property
    def usign_key_id(self) -> str:
        return self.usign_public.key_id_hex

    @property
    def apk_key_id(self) -> str:
        return apk_sign.key_id(self.apk_private.public_key()).hex()


@contextmanager
def trusted_public_keys(keys: BuildKeys) -> Iterator[Path]:
    """A directory with only the public halves of ``keys``, outside any tree verify checks (the
    copies shipped in a feed's keys/ are what verify must not rely on)."""
    with tempfile.TemporaryDirectory(prefix="kmodkit-trusted-keys-") as trusted:
        Path(trusted, f"{keys.usign_key_id}.pub").write_text(keys.usign_public_text)
        Path(trusted, f"{keys.apk_key_id}.pem").write_bytes(keys.apk_public_pem)
        yield Path(trusted)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what}: {exc.strerror}", where=str(path)) from None


def local_key_paths(cache: Path) -> tuple[Path, Path]:
    """Where the local build keys live in a cache: (usign secret, apk private PEM)."""
    local = cache / "keys"
    return local / "key-build.usign.sec", local / "key-build.apk.pem"


def load_or_create_keys(
    cache: Path, usign_key: Path | None = None, apk_key: Path | None = None
) -> BuildKeys:
    """Keys given by path win; missing ones come from (or are created in) ``cache/keys``."""
    local = cache / "keys"
    local.mkdir(parents=True, exist_ok=True)
    generated = False
    with FileLock(str(local / ".lock")):
        local_usign, local_apk = local_key_paths(cache)
        sec_path = usign_key or local_usign
        if usign_key is None and not sec_path.exists():
            sk, pk = usign.generate_keypair(LOCAL_COMMENT)
            atomic_write_text(sec_path, sk.to_text(LOCAL_COMMENT), 0o600)
            atomic_write_text(local / "key-build.usign.pub", pk.to_text(LOCAL_COMMENT))
            generated = True
        secret = usign.read_secret_key(_read(sec_path, "usign secret key").decode(), str(sec_path))
        public = secret.public_key()

        pem_path = apk_key or local_apk
        if apk_key is None and not pem_path.exists():
            key = apk_sign.generate_signing_key()
            atomic_write_bytes(pem_path, apk_sign.private_key_pem(key), 0o600)
            generated = True
        private = apk_sign.load_private_key(_read(pem_path, "apk signing key"), str(pem_path))
    return BuildKeys(
        usign_secret=secret,
        usign_public=public,
        usign_public_text=public.to_text(f"public key {public.key_id_hex}"),
        apk_private=private,
        apk_public_pem=apk_sign.public_key_pem(private.public_key()),
        generated=generated,
    )
