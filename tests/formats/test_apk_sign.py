"""apk signing keys, key ids and SIG block verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.errors import FormatError, SignatureError
from kmodkit.formats import adb, apk_sign


def test_test_key_id_matches_apk(testdata: Path) -> None:
    pub = apk_sign.load_public_key((testdata / "apk/test-key.pub.pem").read_bytes(), "pub")
    priv = apk_sign.load_private_key((testdata / "apk/test-key.pem").read_bytes(), "key")
    assert apk_sign.key_id(pub).hex() == "09851397befe8ca381684c95a5e98488"
    assert apk_sign.key_id(priv.public_key()) == apk_sign.key_id(pub)


def test_pem_roundtrip_and_sign_verify() -> None:
    key = apk_sign.generate_signing_key()
    again = apk_sign.load_private_key(apk_sign.private_key_pem(key), "k")
    pub = apk_sign.load_public_key(apk_sign.public_key_pem(key.public_key()), "p")
    assert apk_sign.private_key_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")
    payload = bytes(range(64))
    sig = apk_sign.sign_adb(again, adb.SCHEMA_INDEX, payload)
    assert sig == apk_sign.sign_adb(key, adb.SCHEMA_INDEX, payload)  # deterministic ECDSA
    assert sig[:2] == b"\x00\x04" and sig[2:18] == apk_sign.key_id(pub)
    apk_sign.verify_sig(pub, adb.SCHEMA_INDEX, payload, sig)
    with pytest.raises(SignatureError, match="does not verify"):
        apk_sign.verify_sig(pub, adb.SCHEMA_INDEX, payload[:-1] + b"\xff", sig)
    with pytest.raises(SignatureError, match="does not verify"):
        apk_sign.verify_sig(pub, adb.SCHEMA_PACKAGE, payload, sig)
    other = apk_sign.generate_signing_key().public_key()
    with pytest.raises(SignatureError, match="not by this key"):
        apk_sign.verify_sig(other, adb.SCHEMA_INDEX, payload, sig)


def test_bad_pem_is_a_format_error() -> None:
    with pytest.raises(FormatError, match=r"keys/x\.pem"):
        apk_sign.load_private_key(b"not a key", "keys/x.pem")
    with pytest.raises(FormatError):
        apk_sign.load_public_key(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "p"
        )
    with pytest.raises(FormatError, match="shorter"):
        apk_sign.parse_sig(b"\x00\x04", "s")
