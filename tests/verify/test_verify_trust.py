"""Trust: a signature that verifies only against a key shipped inside the verified tree is a
warning (a failure under --strict) that names --keys; --keys refuses secret keys."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kmodkit.cli.verify import verify as verify_cli
from kmodkit.formats import apk_sign
from kmodkit.verify import VerifyOptions, VerifyReport, verify_paths

REPO = Path(__file__).resolve().parents[2]


def run(paths: list[Path], **kw: object) -> VerifyReport:
    return verify_paths(paths, options=VerifyOptions(**kw))  # type: ignore[arg-type]


def signature_results(report: VerifyReport) -> list[tuple[str, str]]:
    return [(r.status, r.message) for r in report.results if r.check_id == "feed.signature"]


def _apk_tree_with_its_key(testdata: Path, tmp_path: Path) -> Path:
    """The real apk-tools vector feed, shipped with its public key as `invoke build` lays out."""
    tree = tmp_path / "dist"
    shutil.copytree(testdata / "apk/feed", tree / "apk")
    (tree / "keys").mkdir()
    shutil.copy(testdata / "apk/test-key.pub.pem", tree / "keys")
    return tree


def test_apk_signature_against_a_shipped_key_warns(testdata: Path, tmp_path: Path) -> None:
    tree = _apk_tree_with_its_key(testdata, tmp_path)
    [(status, message)] = signature_results(run([tree]))
    assert status == "warn"
    assert "shipped inside the verified tree" in message and "--keys" in message
    assert str(tree / "keys" / "test-key.pub.pem") in message


def test_keys_given_inside_the_verified_tree_are_still_shipped(
    testdata: Path, tmp_path: Path
) -> None:
    tree = _apk_tree_with_its_key(testdata, tmp_path)
    [(status, _)] = signature_results(run([tree], keys=tree / "keys"))
    assert status == "warn"


def test_keys_from_outside_the_tree_pass(testdata: Path, tmp_path: Path) -> None:
    tree = _apk_tree_with_its_key(testdata, tmp_path)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(testdata / "apk/test-key.pub.pem", trusted)
    [(status, message)] = signature_results(run([tree], keys=trusted))
    assert status == "pass" and f"trusted key from {trusted}" in message


def test_shipped_key_fails_under_strict_with_exit_1(testdata: Path, tmp_path: Path, capsys) -> None:
    tree = _apk_tree_with_its_key(testdata, tmp_path)
    common = {
        "paths": [str(tree)], "index": [], "kernel_dir": None, "sdk": None, "release": None,
        "target": None, "keys": None, "json_out": None, "junit_out": None, "rebuild": False,
    }  # fmt: skip
    strict = verify_cli(**common, strict=True)
    out = capsys.readouterr().out
    assert strict == 1 and "--keys" in out


def test_secret_keys_in_keys_dir_are_refused(
    testdata: Path, tmp_path: Path, usign_pair, write_feed, make_ipk
) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])])
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "ok.pub").write_text(usign_pair[1].to_text())
    (trusted / "build.usign.sec").write_text(usign_pair[0].to_text())
    key = apk_sign.generate_signing_key()
    (trusted / "build.apk.pem").write_bytes(apk_sign.private_key_pem(key))
    shutil.copy(testdata / "usign/test.sec", trusted / "renamed.pub")  # the name does not matter
    report = run([feed], keys=trusted)
    refused = sorted(r.artifact for r in report.results if r.check_id == "input.secret-key")
    assert refused == [
        str(trusted / n) for n in ("build.apk.pem", "build.usign.sec", "renamed.pub")
    ]
    assert {r.artifact for r in report.input_errors} == set(refused)
    # the public key next to them is still used
    assert [s for s, _ in signature_results(report)] == ["pass"]


def test_secret_key_refusal_exits_2(tmp_path: Path, usign_pair, write_feed, make_ipk, capsys):
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])])
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "k.sec").write_text(usign_pair[0].to_text())
    status = verify_cli(
        paths=[str(feed)], index=[], kernel_dir=None, sdk=None, release=None, target=None,
        keys=str(trusted), json_out=None, junit_out=None, strict=False, rebuild=False,
    )  # fmt: skip
    assert status == 2
    assert f"refused {trusted / 'k.sec'}: secret key refused" in capsys.readouterr().out


def test_gitignore_keeps_generated_keys_and_output_out_of_commits() -> None:
    def ignored(path: str) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", path], check=False
        )
        return proc.returncode == 0

    assert ignored("keys/kmodkit.usign.sec") and ignored("keys/kmodkit.apk.pem")
    assert ignored("generated/kmod-nft-offload/Makefile")
    assert not ignored("tests/vectors/usign/test.sec")  # anchored: the vectors stay tracked
    assert not ignored("src/kmodkit/keys.py") and not ignored("tests/generated/x")
