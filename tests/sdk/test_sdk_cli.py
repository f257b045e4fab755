"""The interface check of issue 8: the real CLI against ``python3 -m http.server``.

``python -m invoke sdk.fetch --release 24.10.4 --target x86/64 --mirror URL --keys DIR`` on a
directory in the real layout: the first fetch downloads and unpacks, the second downloads
nothing, a one-byte change of the tarball fails in one line (exit 2) with nothing unpacked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sdk_mirror
from cli_runner import cli_env, run_invoke
from kmodkit.formats import usign

REPO = Path(__file__).resolve().parents[2]
SDK_NAME = "openwrt-sdk-24.10.4-x86-64_gcc-13.3.0_musl.Linux-x86_64.tar.zst"


@dataclass
class StaticMirror:
    url: str
    root: Path
    log: Path  # http.server's request log

    def tarball_gets(self) -> int:
        return len(
            re.findall(rf'"GET /\S*{re.escape(SDK_NAME)} HTTP/1.[01]" 200', self.log.read_text())
        )


@pytest.fixture()
def static_mirror(
    tmp_path: Path, signing_key: usign.UsignSecretKey, sdk_archives: dict[str, Path]
) -> Iterator[StaticMirror]:
    site = sdk_mirror.SyntheticMirror(tmp_path / "www", signing_key)
    site.add_release("24.10.4", sdk_archives["zst"])
    log = tmp_path / "http.log"
    with open(log, "w") as err:
        server = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
            cwd=site.root,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert server.stdout is not None
        port = re.search(r"port (\d+)", server.stdout.readline())
        assert port, "http.server did not report its port"
        yield StaticMirror(f"http://127.0.0.1:{port.group(1)}", site.root, log)
    finally:
        server.terminate()
        server.wait(timeout=10)


def invoke(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = cli_env(KMODKIT_CACHE=str(cache))
    env.pop("KMODKIT_MIRROR", None)
    return run_invoke(*args, cwd=REPO, env=env, timeout=120)


def fetch_args(mirror: StaticMirror, keys: Path) -> list[str]:
    return [
        "sdk.fetch",
        "--release",
        "24.10.4",
        "--target",
        "x86/64",
        "--mirror",
        mirror.url,
        "--keys",
        str(keys),
    ]


def test_fetch_twice_then_a_tampered_tarball(
    static_mirror: StaticMirror, keys_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = invoke(*fetch_args(static_mirror, keys_dir), cache=cache)
    assert first.returncode == 0, first.stderr
    sdk = Path(first.stdout.strip().splitlines()[-1])
    assert sdk.is_dir() and sdk.is_relative_to(cache / "sdk" / "24.10.4" / "x86-64")
    assert (sdk / "rules.mk").is_file()
    assert static_mirror.tarball_gets() == 1

    second = invoke(*fetch_args(static_mirror, keys_dir), cache=cache)
    assert second.returncode == 0, second.stderr
    assert Path(second.stdout.strip().splitlines()[-1]) == sdk
    assert static_mirror.tarball_gets() == 1  # not downloaded again

    tarball = next(static_mirror.root.rglob(SDK_NAME))
    data = bytearray(tarball.read_bytes())
    data[1000] ^= 0xFF
    tarball.write_bytes(bytes(data))
    empty = tmp_path / "empty-cache"
    bad = invoke(*fetch_args(static_mirror, keys_dir), cache=empty)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if not line.startswith("downloading")]
    assert len(errors) == 1 and errors[0].startswith("error:") and "sha256" in errors[0]
    assert "Traceback" not in bad.stderr and bad.stdout == ""
    unpacked = [p for p in (empty / "sdk").rglob("*") if p.is_dir() and "x86-64" in p.parts[-2:-1]]
    assert unpacked == []
    assert not any(p.name == "rules.mk" for p in empty.rglob("*"))


def test_list_and_clean_through_the_cli(
    static_mirror: StaticMirror, keys_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    releases = invoke("sdk.list", "--mirror", static_mirror.url, cache=cache)
    assert releases.returncode == 0 and "24.10.4" in releases.stdout
    targets = invoke("sdk.list", "--release", "24.10", "--mirror", static_mirror.url, cache=cache)
    assert targets.returncode == 0 and "targets of 24.10.4" in targets.stdout
    assert "x86/64" in targets.stdout
    assert invoke(*fetch_args(static_mirror, keys_dir), cache=cache).returncode == 0
    cached = invoke("sdk.list", "--offline", cache=cache)
    assert "24.10.4" in cached.stdout and "6.6.93" in cached.stdout
    cleaned = invoke("sdk.clean", "--keep", "0", cache=cache)
    assert cleaned.returncode == 0 and "kept 0 SDK(s)" in cleaned.stdout
    offline = invoke(*fetch_args(static_mirror, keys_dir), "--offline", cache=cache)
    assert offline.returncode == 2 and "fetch it once online" in offline.stderr
