"""Trusted public keys: from ``--keys DIR``; keys shipped inside the verified tree prove nothing.

A feed that carries its own public key can be re-signed by anyone who rewrites it, so a
signature that verifies only against a key found inside the inputs is a warning (a failure
under ``--strict``) that says to pass ``--keys``. The ``--keys`` directory holds public keys
only: a secret key there is refused (``input.secret-key``), because a directory of trusted keys
is copied around and a secret key must not travel with it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from kmodkit.errors import KmodkitError
from kmodkit.formats import apk_sign, usign
from kmodkit.limits import MAX_KEY_FILE_BYTES
from kmodkit.safeio import read_regular_file
from kmodkit.verify.checks_feed import Keys
from kmodkit.verify.discover import Inputs, is_usign_public_key
from kmodkit.verify.model import Findings

SECRET_KEY_CHECK = "input.secret-key"
PEM_SECRET_MARKERS = (
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
)
USIGN_SECRET_SIZE = 104


def load_keys(
    directory: Path | None,
    inputs: Inputs,
    findings: Findings,
    notes: list[str],
    roots: Sequence[Path] = (),
) -> Keys:
    """Read every public key; ``roots`` are the verified inputs (keys inside them are shipped)."""
    if directory is not None:
        if not directory.is_dir():
            findings.fail("input.unreadable", str(directory), "--keys is not a directory")
            return Keys()
        try:
            usign_paths, apk_paths = _scan_keys_dir(directory, findings)
        except OSError as exc:
            findings.fail("input.unreadable", str(directory), f"cannot read: {exc.strerror}")
            return Keys()
        keys = _read(usign_paths, apk_paths, findings, roots)
        keys.source = f" (trusted key from {directory})"
        return keys
    keys = _read(inputs.usign_keys, inputs.apk_keys, findings, roots, all_shipped=True)
    found = [*inputs.usign_keys, *inputs.apk_keys]
    if found:
        where = ", ".join(str(p) for p in found)
        notes.append(
            "no --keys given: signatures are checked against public keys found in the inputs "
            f"({where}), which shows integrity, not who signed; pass --keys DIR to trust a key"
        )
    return keys


def is_secret_key(text: str) -> bool:
    """A PEM private key or a usign secret key (``usign -G``'s ``.sec`` file)."""
    if any(marker in text for marker in PEM_SECRET_MARKERS):
        return True
    lines = text.strip().splitlines()
    if len(lines) != 2 or not lines[0].startswith("untrusted comment:"):
        return False
    try:
        raw = base64.b64decode(lines[1].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == USIGN_SECRET_SIZE and raw[:2] == b"Ed"


def _regular_files(directory: Path) -> Iterator[Path]:
    def fail(exc: OSError) -> None:
        raise exc

    for dirpath, dirnames, filenames in os.walk(directory, onerror=fail):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _small_text(path: Path) -> str | None:
    """The file's text when it is a regular file small enough to be a key, else None."""
    try:
        return _key_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _key_bytes(path: Path) -> bytes:
    """A key file's bytes: regular files only, within MAX_KEY_FILE_BYTES (no FIFO can hang it)."""
    return read_regular_file(path, MAX_KEY_FILE_BYTES, "MAX_KEY_FILE_BYTES")


def _scan_keys_dir(directory: Path, findings: Findings) -> tuple[list[Path], list[Path]]:
    """(usign public keys, apk PEM public keys) in ``--keys`` (recursively); secrets refused."""
    usign_paths: list[Path] = []
    apk_paths: list[Path] = []
    for path in _regular_files(directory):
        text = _small_text(path)
        if text is None:
            continue
        if is_secret_key(text):
            findings.fail(
                SECRET_KEY_CHECK,
                str(path),
                "secret key refused: --keys takes public keys only "
                "(keep secret keys out of directories of trusted keys)",
            )
        elif "-----BEGIN PUBLIC KEY-----" in text:
            apk_paths.append(path)
        elif is_usign_public_key(text):
            usign_paths.append(path)
    return usign_paths, apk_paths


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    real = path.resolve()
    return any(real == r or r in real.parents for r in (root.resolve() for root in roots))


def _read(
    usign_paths: list[Path],
    apk_paths: list[Path],
    findings: Findings,
    roots: Sequence[Path],
    *,
    all_shipped: bool = False,
) -> Keys:
    keys = Keys()
    for path in usign_paths:
        try:
            key = usign.read_public_key(_key_bytes(path).decode("utf-8"), str(path))
        except (OSError, UnicodeDecodeError, KmodkitError) as exc:
            findings.fail("input.unreadable", str(path), f"bad usign public key: {exc}")
            continue
        keys.usign.append(key)
        if all_shipped or _inside(path, roots):
            keys.shipped[key.key_id] = str(path)
    for path in apk_paths:
        try:
            public = apk_sign.load_public_key(_key_bytes(path), str(path))
        except (OSError, KmodkitError) as exc:
            findings.fail("input.unreadable", str(path), f"bad apk public key: {exc}")
            continue
        keys.apk.append(public)
        if all_shipped or _inside(path, roots):
            keys.shipped[apk_sign.key_id(public)] = str(path)
    return keys
