"""OpenWrt usign: Ed25519 keys and signatures in usign's file formats (RFC 8032, no prehash).

Files are ``untrusted comment: <text>`` then one base64 line. opkg trusts a key by its 8-byte
key id (``/etc/opkg/keys/<16 hex>``), which signatures carry, so ids must survive round trips.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kmodkit.errors import FormatError, SignatureError

COMMENT_PREFIX = "untrusted comment: "
PKALG = b"Ed"
KDFALG = b"BK"


def _encode(comment: str, payload: bytes) -> str:
    if "\n" in comment:
        raise FormatError("a usign comment must be a single line")
    return f"{COMMENT_PREFIX}{comment}\n{base64.b64encode(payload).decode('ascii')}\n"


def _decode(text: str, size: int, kind: str, where: str) -> tuple[str, bytes]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith(COMMENT_PREFIX):
        raise FormatError(f"{kind}: first line must start with {COMMENT_PREFIX!r}", where=where)
    if len(lines) < 2:
        raise FormatError(f"{kind}: base64 line missing (line 2)", where=where)
    try:
        payload = base64.b64decode(lines[1].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{kind}: line 2 is not valid base64", where=where) from None
    if len(payload) != size:
        raise FormatError(f"{kind}: expected {size} bytes, got {len(payload)}", where=where)
    if payload[:2] != PKALG:
        raise FormatError(f"{kind}: unknown algorithm {payload[:2]!r} (want 'Ed')", where=where)
    return lines[0][len(COMMENT_PREFIX) :], payload


def key_id_hex(key_id: bytes) -> str:
    """The 16 lower-case hex digits usign prints and opkg uses as the key file name."""
    return key_id.hex()


@dataclass(frozen=True)
class UsignPublicKey:
    key_id: bytes
    public: bytes
    comment: str = ""

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def to_text(self, comment: str | None = None) -> str:
        text = comment if comment is not None else self.comment or f"public key {self.key_id_hex}"
        return _encode(text, PKALG + self.key_id + self.public)


@dataclass(frozen=True)
class UsignSecretKey:
    key_id: bytes
    seed: bytes
    public: bytes
    salt: bytes = bytes(16)
    comment: str = ""

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def public_key(self) -> UsignPublicKey:
        return UsignPublicKey(self.key_id, self.public, self.comment)

    def to_text(self, comment: str | None = None) -> str:
        text = comment if comment is not None else self.comment or f"private key {self.key_id_hex}"
        secret = self.seed + self.public
        checksum = hashlib.sha512(secret).digest()[:8]
        payload = (
            PKALG + KDFALG + struct.pack(">I", 0) + self.salt + checksum + self.key_id + secret
        )
        return _encode(text, payload)


@dataclass(frozen=True)
class UsignSignature:
    key_id: bytes
    signature: bytes
    comment: str = ""

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def to_text(self, comment: str | None = None) -> str:
        text = (
            comment if comment is not None else self.comment or f"signed by key {self.key_id_hex}"
        )
        return _encode(text, PKALG + self.key_id + self.signature)


def read_public_key(text: str, where: str = "<usign public key>") -> UsignPublicKey:
    comment, payload = _decode(text, 42, "usign public key", where)
    return UsignPublicKey(payload[2:10], payload[10:42], comment)


def read_signature(text: str, where: str = "<usign signature>") -> UsignSignature:
    comment, payload = _decode(text, 74, "usign signature", where)
    return UsignSignature(payload[2:10], payload[10:74], comment)


def read_secret_key(text: str, where: str = "<usign secret key>") -> UsignSecretKey:
    comment, payload = _decode(text, 104, "usign secret key", where)
    if payload[2:4] != KDFALG:
        raise FormatError(f"usign secret key: unknown KDF {payload[2:4]!r}", where=where)
    (rounds,) = struct.unpack_from(">I", payload, 4)
    if rounds:
        raise SignatureError("password-protected usign keys are not supported", where=where)
    salt, checksum, key_id = payload[8:24], payload[24:32], payload[32:40]
    seed, public = payload[40:72], payload[72:104]
    if hashlib.sha512(payload[40:104]).digest()[:8] != checksum:
        raise FormatError("usign secret key: checksum mismatch (corrupt key)", where=where)
    derived = _private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if derived != public:
        raise FormatError("usign secret key: public half does not match the seed", where=where)
    return UsignSecretKey(key_id, seed, public, salt, comment)


def _private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def generate_keypair(comment: str) -> tuple[UsignSecretKey, UsignPublicKey]:
    """A fresh key pair with a random 8-byte key id, as ``usign -G`` makes."""
    seed = os.urandom(32)
    public = _private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    secret = UsignSecretKey(os.urandom(8), seed, public, os.urandom(16), comment)
    return secret, secret.public_key()


def sign(message: bytes, key: UsignSecretKey) -> UsignSignature:
    """Ed25519 over the raw message; deterministic, so equal inputs give equal files."""
    return UsignSignature(key.key_id, _private(key.seed).sign(message))


def verify(message: bytes, sig: UsignSignature, pub: UsignPublicKey) -> bool:
    """True when ``pub`` made ``sig`` over ``message``; key ids must match, as usign checks."""
    if sig.key_id != pub.key_id:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pub.public).verify(sig.signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def pad_for_signing(packages: bytes) -> bytes:
    """Append ``\\n\\n`` when (64 + size) % 128 is 110 or 111, dodging old usign's SHA-512 bug.

    OpenWrt's package index pads Packages itself, so Packages, Packages.gz and the signature
    all cover the padded bytes.
    """
    if (64 + len(packages)) % 128 in (110, 111):
        return packages + b"\n\n"
    return packages
