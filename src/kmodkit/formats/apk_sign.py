"""apk v3 SIG blocks: keys, 16-byte key ids, signing and verifying an ADB payload.

A SIG block is ``u8 sign_ver=0, u8 hash_alg (4 = SHA-512), keyid[16], signature``. The signed
message is ``u32le schema || those 18 bytes || sha512(ADB payload)``; OpenWrt signs with ECDSA
P-256 (DER signature). We sign with RFC 6979 deterministic ECDSA so a re-run gives the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from kmodkit.errors import FormatError, SignatureError

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]  # noqa: UP007
PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]  # noqa: UP007

HASH_SHA512 = 4  # apk's APK_DIGEST_SHA512
SIG_HEADER = 18


@dataclass(frozen=True)
class SigBlock:
    version: int
    hash_alg: int
    key_id: bytes
    signature: bytes


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key, the type OpenWrt's build uses for apk feeds."""
    return ec.generate_private_key(ec.SECP256R1())


def load_private_key(pem: bytes, where: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(f"not a usable PEM private key: {exc}", where=where) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise FormatError("apk signing needs an ECDSA or RSA private key", where=where)
    return key


def load_public_key(pem: bytes, where: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise FormatError(f"not a usable PEM public key: {exc}", where=where) from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise FormatError("apk verification needs an ECDSA or RSA public key", where=where)
    return key


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public_key: PublicKey) -> bytes:
    """First 16 bytes of sha512 over the key as i2d_PublicKey writes it (EC point / PKCS#1)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        raw = public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        raw = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return hashlib.sha512(raw).digest()[:16]


def _message(schema: int, header: bytes, adb_payload: bytes) -> bytes:
    return schema.to_bytes(4, "little") + header + hashlib.sha512(adb_payload).digest()


def sign_adb(key: PrivateKey, schema: int, adb_payload: bytes) -> bytes:
    """The payload of one SIG block for ``adb_payload``."""
    header = bytes([0, HASH_SHA512]) + key_id(key.public_key())
    message = _message(schema, header, adb_payload)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(message, ec.ECDSA(hashes.SHA512(), deterministic_signing=True))
    else:
        sig = key.sign(message, padding.PKCS1v15(), hashes.SHA512())
    return header + sig


def parse_sig(payload: bytes, where: str) -> SigBlock:
    if len(payload) < SIG_HEADER:
        raise FormatError(
            f"SIG block of {len(payload)} bytes is shorter than its header", where=where
        )
    return SigBlock(payload[0], payload[1], payload[2:18], payload[18:])


def verify_sig(public_key: PublicKey, schema: int, adb_payload: bytes, sig_payload: bytes) -> None:
    """Raise SignatureError unless ``sig_payload`` is a valid signature by ``public_key``."""
    sig = parse_sig(sig_payload, "<sig>")
    if sig.version != 0:
        raise SignatureError(f"unsupported signature version {sig.version}")
    if sig.hash_alg != HASH_SHA512:
        raise SignatureError(f"unsupported signature hash algorithm {sig.hash_alg}")
    if sig.key_id != key_id(public_key):
        raise SignatureError(f"signed by key {sig.key_id.hex()}, not by this key")
    message = _message(schema, sig_payload[:SIG_HEADER], adb_payload)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(sig.signature, message, ec.ECDSA(hashes.SHA512()))
        else:
            public_key.verify(sig.signature, message, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        raise SignatureError(f"signature by key {sig.key_id.hex()} does not verify") from None
