"""``invoke keys.generate``: usable key pairs, private files 0600, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kmodkit.cli import keys
from kmodkit.errors import UsageError
from kmodkit.formats import apk_sign, usign


def test_generate_writes_usable_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "keys"
    assert keys.generate(out=str(out), name="build", comment="my feed") == 0
    files = {p.name: p for p in out.iterdir()}
    assert set(files) == {
        "build.usign.sec",
        "build.usign.pub",
        "build.apk.pem",
        "build.apk.pub.pem",
    }
    for name in ("build.usign.sec", "build.apk.pem"):
        assert stat.S_IMODE(files[name].stat().st_mode) == 0o600
    for name in ("build.usign.pub", "build.apk.pub.pem"):
        assert stat.S_IMODE(files[name].stat().st_mode) == 0o644
    sec = usign.read_secret_key(files["build.usign.sec"].read_text())
    pub = usign.read_public_key(files["build.usign.pub"].read_text())
    assert files["build.usign.pub"].read_text().startswith("untrusted comment: my feed\n")
    assert usign.verify(b"Packages", usign.sign(b"Packages", sec), pub)
    assert pub.key_id_hex in capsys.readouterr().out
    private = apk_sign.load_private_key(files["build.apk.pem"].read_bytes(), "apk.pem")
    public = apk_sign.load_public_key(files["build.apk.pub.pem"].read_bytes(), "apk.pub.pem")
    assert apk_sign.public_key_pem(private.public_key()) == apk_sign.public_key_pem(public)
    assert files["build.apk.pem"].read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    keys.generate(out=str(tmp_path), name="k", comment=None)
    before = (tmp_path / "k.usign.sec").read_bytes()
    (tmp_path / "k.apk.pem").unlink()  # even one surviving file blocks a new pair
    with pytest.raises(UsageError, match="refusing to overwrite"):
        keys.generate(out=str(tmp_path), name="k", comment=None)
    assert (tmp_path / "k.usign.sec").read_bytes() == before
    assert not (tmp_path / "k.apk.pem").exists()
    with pytest.raises(UsageError, match="bad key name"):
        keys.generate(out=str(tmp_path), name="../x", comment=None)
