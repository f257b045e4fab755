"""`kmodkit boottest` at the CLI edge: bad input is one line and exit 2, before any boot."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from cli_runner import run_kmodkit
from kmodkit.cli.boottest import last_build
from kmodkit.errors import UsageError


def kmodkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_kmodkit(*args, cwd=cwd, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for word in words:
        assert word in lines[0]


def test_missing_feed_is_exit_2(tmp_path: Path) -> None:
    _one_line_error(kmodkit("boottest", str(tmp_path / "nope"), cwd=tmp_path), "no such feed")


def test_no_build_yet_names_the_command(tmp_path: Path) -> None:
    _one_line_error(
        kmodkit("boottest", "--target", "x86_64", cwd=tmp_path),
        "no build for x86/64",
        "invoke build --target x86_64",
    )


def test_ruleset_without_flow_add_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "plain.nft"
    rules.write_text("table inet t { chain f { type filter hook forward priority 0; } }\n")
    (tmp_path / "feed" / "ipk").mkdir(parents=True)
    result = kmodkit("boottest", str(tmp_path / "feed"), "--ruleset", str(rules), cwd=tmp_path)
    _one_line_error(result, "plain.nft", "flow add")


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    _one_line_error(kmodkit("boottest", "--timeout", "0", cwd=tmp_path), "--timeout")


def test_last_build_is_the_newest_report(tmp_path: Path) -> None:
    old = tmp_path / "dist" / "6.1.0-1-amd64" / "x86" / "64"
    new = tmp_path / "dist" / "6.1.0-2-amd64" / "x86" / "64"
    for n, path in enumerate((old, new)):
        path.mkdir(parents=True)
        (path / "build-report.json").write_text("{}")
        os.utime(path / "build-report.json", (1_000_000 + n, 1_000_000 + n))
    assert last_build("x86_64", tmp_path / "dist") == new
    with pytest.raises(UsageError, match="no build for armsr/armv8"):
        last_build("armsr/armv8", tmp_path / "dist")


def test_release_fetches_the_image_through_the_pinned_keys(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--release R: the image comes through the SDK's chain of trust; a mirror whose
    sha256sums is signed by a key that is not OpenWrt's pinned one stops it (exit 2)."""
    import sdk_mirror
    from kmodkit.formats import usign

    key, _ = usign.generate_keypair("not an OpenWrt key")
    site = sdk_mirror.SyntheticMirror(tmp_path / "www", key)
    tdir = site.root / "releases" / "24.10.4" / "targets" / "x86" / "64"
    tdir.mkdir(parents=True)
    sdk_mirror.add_fake_images(site, tdir, "24.10.4", "x86", "64")
    server = sdk_mirror.serve(httpserver, site.root)
    (tmp_path / "feed" / "ipk").mkdir(parents=True)
    (tmp_path / "feed" / "ipk" / "Packages").write_text("")
    monkeypatch.setenv("KMODKIT_MIRROR", httpserver.url_for("").rstrip("/"))
    monkeypatch.setenv("KMODKIT_CACHE", str(tmp_path / "cache"))
    result = kmodkit("boottest", "--release", "24.10.4", "--target", "x86/64", "feed", cwd=tmp_path)
    _one_line_error(result, "sha256sums.sig")
    assert server.requests_for("sha256sums.sig")
    assert not server.requests_for(".bin") and not server.requests_for(".img.gz")


def test_release_with_no_feed_fails_before_any_download(tmp_path: Path) -> None:
    result = kmodkit("boottest", "--release", "24.10.4", str(tmp_path / "nope"), cwd=tmp_path)
    _one_line_error(result, "no such feed")
