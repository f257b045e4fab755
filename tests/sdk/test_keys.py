"""The pinned OpenWrt release keys: real keyring bytes, named by their key ids."""

from __future__ import annotations

import pytest

from kmodkit.errors import SignatureError
from kmodkit.sdk.keys import KEYS_DIR, PINNED, read_key_file, trusted_keys

# From facts §2 (OpenWrt keyring.git usign/<id>): series -> (key id, public key line).
KEYRING = {
    "21.02": ("2f8b0b98e08306bf", "RWQviwuY4IMGvwLfs6842A0m4EZU1IjczTxKMSk3BQP8DAQLHBwdQiaU"),
    "22.03": ("4d017e6f1ed5d616", "RWRNAX5vHtXWFmt+n5di7XX8rTu0w+c8X7Ihv4oCyD6tzsUwmH0A6kO0"),
    "24.10": ("d310c6f2833e97f7", "RWTTEMbygz6X95lKDAulctZy3aj15823THXfyrfXgwGbxZlXBd2brNcw"),
    "snapshot": ("b5043e70f9a75cde", "RWS1BD5w+adc3j2Hqg9+b66CvLR7NlHbsj7wjNVj0XGt/othDgIAOJS+"),
}


def test_pinned_keys_are_openwrts() -> None:
    for series, (key_id, line) in KEYRING.items():
        assert PINNED[series] == key_id
        assert (KEYS_DIR / key_id).read_text().splitlines()[1] == line
        (key,) = trusted_keys(series, None)
        assert key.key_id_hex == key_id


def test_every_shipped_key_file_is_valid_and_pinned() -> None:
    files = sorted(p.name for p in KEYS_DIR.iterdir())
    assert files == sorted(PINNED.values())
    for name in files:
        assert read_key_file(KEYS_DIR / name).key_id_hex == name


def test_a_series_without_a_pinned_key_needs_keys() -> None:
    with pytest.raises(
        SignatureError, match=r"no pinned OpenWrt usign key for release series 25\.12"
    ):
        trusted_keys("25.12", None)
