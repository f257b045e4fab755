"""Pinned OpenWrt release usign keys: one per release series, shipped as data (keys/<key id>).

The key bytes are OpenWrt's public keyring (keyring.git usign/<key id>). A series trusts
only its own key; ``--keys DIR`` (usign public keys named by key id) replaces them all.
"""

from __future__ import annotations

from pathlib import Path

from kmodkit.errors import FormatError, SignatureError, UsageError
from kmodkit.formats import usign

KEYS_DIR = Path(__file__).resolve().parent / "keys"

# Release series -> key id of the usign key that signs its sha256sums (keyring.git usign/).
PINNED: dict[str, str] = {
    "21.02": "2f8b0b98e08306bf",
    "22.03": "4d017e6f1ed5d616",
    "23.05": "682970064b87a917",
    "24.10": "d310c6f2833e97f7",
    "snapshot": "b5043e70f9a75cde",
}


def read_key_file(path: Path) -> usign.UsignPublicKey:
    try:
        key = usign.read_public_key(path.read_text(encoding="ascii"), where=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read usign public key ({exc})", where=str(path)) from None
    if key.key_id_hex != path.name:
        raise FormatError(
            f"file is named {path.name} but holds key {key.key_id_hex} (name keys by key id)",
            where=str(path),
        )
    return key


def trusted_keys(series: str, keys_dir: Path | None) -> list[usign.UsignPublicKey]:
    """The keys a signature of ``series`` may come from."""
    if keys_dir is not None:
        if not keys_dir.is_dir():
            raise UsageError("--keys must be a directory of usign public keys", where=str(keys_dir))
        files = sorted(p for p in keys_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UsageError("no usign public keys in the --keys directory", where=str(keys_dir))
        return [read_key_file(p) for p in files]
    key_id = PINNED.get(series)
    if key_id is None:
        raise SignatureError(
            f"no pinned OpenWrt usign key for release series {series} "
            f"(pinned: {', '.join(PINNED)}); pass --keys DIR with its public key"
        )
    return [read_key_file(KEYS_DIR / key_id)]


def check_signature(
    message: bytes, sig_text: str, keys: list[usign.UsignPublicKey], *, where: str
) -> usign.UsignPublicKey:
    """The key that signed ``message``; any failure is a SignatureError naming the file."""
    try:
        sig = usign.read_signature(sig_text, where=where)
    except FormatError as exc:
        raise SignatureError(exc.message, where=where) from None
    by_id = {k.key_id: k for k in keys}
    key = by_id.get(sig.key_id)
    if key is None:
        trusted = ", ".join(k.key_id_hex for k in keys)
        raise SignatureError(
            f"signed by unknown key {sig.key_id_hex} (trusted: {trusted})", where=where
        )
    if not usign.verify(message, sig, key):
        raise SignatureError(
            f"signature by key {key.key_id_hex} does not match the signed file", where=where
        )
    return key
