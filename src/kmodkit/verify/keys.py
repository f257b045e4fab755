"""Trusted public keys: from ``--keys DIR``, else the ones a dist tree ships (said so)."""

from __future__ import annotations

from pathlib import Path

from kmodkit.errors import KmodkitError
from kmodkit.formats import apk_sign, usign
from kmodkit.verify.checks_feed import Keys
from kmodkit.verify.discover import Inputs, keys_in_directory
from kmodkit.verify.model import Findings


def load_keys(directory: Path | None, inputs: Inputs, findings: Findings, notes: list[str]) -> Keys:
    """Read every public key; unreadable --keys directories fail ``input.unreadable``."""
    if directory is not None:
        if not directory.is_dir():
            findings.fail("input.unreadable", str(directory), "--keys is not a directory")
            return Keys()
        try:
            usign_paths, apk_paths = keys_in_directory(directory)
        except OSError as exc:
            findings.fail("input.unreadable", str(directory), f"cannot read: {exc.strerror}")
            return Keys()
        keys = _read(usign_paths, apk_paths, findings)
        keys.source = f" (trusted key from {directory})"
        return keys
    keys = _read(inputs.usign_keys, inputs.apk_keys, findings)
    found = [*inputs.usign_keys, *inputs.apk_keys]
    if found:
        where = ", ".join(str(p) for p in found)
        keys.source = " (key found in the input tree, trusted since --keys was not given)"
        notes.append(f"no --keys given: trusting public keys found in the inputs: {where}")
    return keys


def _read(usign_paths: list[Path], apk_paths: list[Path], findings: Findings) -> Keys:
    keys = Keys()
    for path in usign_paths:
        try:
            keys.usign.append(usign.read_public_key(path.read_text("utf-8"), str(path)))
        except (OSError, UnicodeDecodeError, KmodkitError) as exc:
            findings.fail("input.unreadable", str(path), f"bad usign public key: {exc}")
    for path in apk_paths:
        try:
            keys.apk.append(apk_sign.load_public_key(path.read_bytes(), str(path)))
        except (OSError, KmodkitError) as exc:
            findings.fail("input.unreadable", str(path), f"bad apk public key: {exc}")
    return keys
