"""usign: the real tool's keys and signature load, verify and are reproduced byte for byte."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError, SignatureError
from kmodkit.formats import usign


def _vectors(testdata: Path) -> tuple[str, str, str, bytes]:
    d = testdata / "usign"
    return (
        (d / "test.pub").read_text(),
        (d / "test.sec").read_text(),
        (d / "Packages.sig").read_text(),
        (d / "Packages").read_bytes(),
    )


def test_real_signature_verifies_and_is_reproduced(testdata: Path) -> None:
    pub_text, sec_text, sig_text, packages = _vectors(testdata)
    pub = usign.read_public_key(pub_text)
    sec = usign.read_secret_key(sec_text)
    sig = usign.read_signature(sig_text)
    assert pub.key_id_hex == sec.key_id_hex == sig.key_id_hex == "789e6c99ecb9bfd8"
    assert usign.verify(packages, sig, pub)
    ours = usign.sign(packages, sec)
    assert ours.to_text() == sig_text  # Ed25519 is deterministic: usign's exact file
    assert usign.verify(packages + b"\n", sig, pub) is False


def test_key_files_round_trip_byte_for_byte(testdata: Path) -> None:
    pub_text, sec_text, _, _ = _vectors(testdata)
    assert usign.read_public_key(pub_text).to_text() == pub_text
    assert usign.read_secret_key(sec_text).to_text() == sec_text
    assert usign.read_secret_key(sec_text).public_key().to_text() == pub_text


def test_generated_pair_signs_and_verifies() -> None:
    sec, pub = usign.generate_keypair("test comment")
    assert pub.to_text().startswith("untrusted comment: test comment\n")
    assert len(pub.key_id_hex) == 16 and sec.key_id == pub.key_id
    sig = usign.sign(b"message", sec)
    assert usign.verify(
        b"message", usign.read_signature(sig.to_text()), usign.read_public_key(pub.to_text())
    )
    _other_sec, other_pub = usign.generate_keypair("other")
    assert not usign.verify(b"message", sig, other_pub)  # key id mismatch
    forged = usign.UsignSignature(other_pub.key_id, sig.signature)
    assert not usign.verify(b"message", forged, other_pub)
    assert usign.read_secret_key(sec.to_text()) == sec


def test_padding_rule() -> None:
    padded_sizes = []
    for size in range(300):
        data = b"x" * size
        padded = usign.pad_for_signing(data)
        assert padded in (data, data + b"\n\n")
        if padded != data:
            padded_sizes.append(size)
    assert padded_sizes == [46, 47, 174, 175]  # (64 + size) % 128 in (110, 111)


def test_malformed_files_raise_format_error(testdata: Path) -> None:
    pub_text, sec_text, sig_text, _ = _vectors(testdata)
    with pytest.raises(FormatError, match="untrusted comment"):
        usign.read_public_key(pub_text.split("\n", 1)[1])
    with pytest.raises(FormatError, match="expected 42 bytes"):
        usign.read_public_key(sig_text)
    with pytest.raises(FormatError, match="base64"):
        usign.read_signature("untrusted comment: x\n!!!!\n")
    raw = bytearray(base64.b64decode(sec_text.splitlines()[1]))
    raw[60] ^= 1
    with pytest.raises(FormatError, match="checksum"):
        usign.read_secret_key(f"untrusted comment: x\n{base64.b64encode(bytes(raw)).decode()}\n")
    raw = bytearray(base64.b64decode(sec_text.splitlines()[1]))
    raw[7] = 1  # kdfrounds: a password-protected key
    with pytest.raises(SignatureError, match="password"):
        usign.read_secret_key(f"untrusted comment: x\n{base64.b64encode(bytes(raw)).decode()}\n")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_readers(text: str) -> None:
    for reader in (usign.read_public_key, usign.read_secret_key, usign.read_signature):
        try:
            reader(text)
        except FormatError:
            pass
        except SignatureError:
            pass
