"""``invoke keys.generate``: a usign pair for opkg feeds and an ECDSA P-256 pair for apk feeds."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kmodkit.cli import check_writable_dir
from kmodkit.errors import UsageError
from kmodkit.formats import apk_sign, usign
from kmodkit.fsutil import atomic_write_bytes

console = Console(highlight=False)


def _apk_pair() -> tuple[bytes, bytes]:
    """(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM) of a fresh P-256 key."""
    key = apk_sign.generate_signing_key()
    return apk_sign.private_key_pem(key), apk_sign.public_key_pem(key.public_key())


def generate(*, out: str, name: str, comment: str | None) -> int:
    """Write ``<name>.usign.{sec,pub}``, ``<name>.apk{,.pub}.pem``; secrets 0600, no overwrite."""
    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"bad key name {name!r} (a plain file name is needed)")
    directory = Path(out)
    check_writable_dir(directory, f"--out {out}")
    paths = {
        kind: directory / f"{name}.{kind}"
        for kind in ("usign.sec", "usign.pub", "apk.pem", "apk.pub.pem")
    }
    existing = [str(p) for p in paths.values() if p.exists() or p.is_symlink()]
    if existing:
        raise UsageError(f"refusing to overwrite existing key files: {', '.join(existing)}")
    secret, public = usign.generate_keypair(comment or f"kmodkit key {name}")
    apk_private, apk_public = _apk_pair()
    atomic_write_bytes(paths["usign.sec"], secret.to_text().encode("ascii"), mode=0o600)
    atomic_write_bytes(paths["usign.pub"], public.to_text().encode("ascii"), mode=0o644)
    atomic_write_bytes(paths["apk.pem"], apk_private, mode=0o600)
    atomic_write_bytes(paths["apk.pub.pem"], apk_public, mode=0o644)
    console.print(f"usign key id: [bold]{public.key_id_hex}[/]")
    console.print(f"  opkg trusts it as /etc/opkg/keys/{public.key_id_hex}  ({paths['usign.pub']})")
    console.print(f"apk key: {paths['apk.pem']} (public: {paths['apk.pub.pem']})")
    return 0
