"""fetch_sdk against a synthetic mirror in the real layout on 127.0.0.1 (no internet)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

import sdk_mirror
from kmodkit.errors import FetchError, FormatError, KmodkitError, SignatureError
from kmodkit.formats import usign
from kmodkit.fsutil import is_temp_name
from kmodkit.sdk import FetchOptions, fetch_sdk
from kmodkit.sdk import cache as sdk_cache
from sdk_mirror import HTTP, RELEASE, Mirror, serve

SDK_SUFFIX = "Linux-x86_64.tar.zst"


def leftovers(cache: Path) -> list[str]:
    """Temporary directories and .part files anywhere in the SDK cache."""
    return sorted(
        p.name
        for p in (cache / "sdk").rglob("*")
        if is_temp_name(p.name) or p.name.endswith(".part")
    )


def test_fetch_downloads_verifies_and_unpacks(mirror: Mirror, own_cache: Path) -> None:
    result = fetch_sdk(mirror.options())
    sha = sdk_cache.entries(own_cache / "sdk" / RELEASE / "x86-64")[0].sha256
    assert result.downloaded
    assert result.path == (
        own_cache
        / "sdk"
        / RELEASE
        / "x86-64"
        / sha[:16]
        / f"openwrt-sdk-{RELEASE}-x86-64_gcc-13.3.0_musl.Linux-x86_64"
    )
    assert sha == sdk_mirror.hashlib.sha256(mirror.sdk.read_bytes()).hexdigest()
    kdir = result.path / "build_dir/target-x86_64_musl/linux-x86_64/linux-6.6.93"
    assert (kdir / ".vermagic").read_text().strip() == sdk_mirror.VERMAGIC
    alias = result.path / "staging_dir/host/bin/tool-alias"
    assert alias.is_symlink() and os.readlink(alias) == "tool"  # internal symlinks are kept
    assert (result.path / "linux").resolve() == kdir.resolve()
    assert result.sdk.kernel == {
        "version": "6.6.93",
        "release": "1",
        "vermagic": sdk_mirror.VERMAGIC,
    }
    assert leftovers(own_cache) == []


def test_refetch_of_a_cached_sdk_makes_only_conditional_requests(mirror: Mirror) -> None:
    first = fetch_sdk(mirror.options())
    before = len(mirror.server.log)
    again = fetch_sdk(mirror.options())
    second = mirror.server.log[before:]
    assert again.path == first.path and not again.downloaded
    assert [s.path.rsplit("/", 1)[-1] for s in second] == ["sha256sums", "sha256sums.sig"]
    assert all(s.status == 304 and "If-None-Match" in s.headers for s in second)


def test_series_resolves_to_the_newest_point_release(
    mirror: Mirror, sdk_archives: dict[str, Path]
) -> None:
    mirror.site.add_release("24.10.3", sdk_archives["xz"])
    result = fetch_sdk(mirror.options(release="24.10"))
    assert result.sdk.release == RELEASE


def test_resume_after_the_server_cuts_the_body(mirror: Mirror, own_cache: Path) -> None:
    data = mirror.sdk.read_bytes()
    cut = 2 << 20  # a chunk boundary: every byte received before the cut is kept
    mirror.server.cut_once[str(mirror.sdk.relative_to(mirror.site.root))] = cut
    result = fetch_sdk(mirror.options())
    first, second = mirror.server.requests_for(SDK_SUFFIX)
    assert "Range" not in first.headers and first.body == data[:cut]
    assert second.headers["Range"] == f"bytes={cut}-"
    assert second.status == 206 and second.body == data[cut:]  # only the missing part
    assert result.downloaded and leftovers(own_cache) == []


def test_a_part_left_by_a_killed_run_is_resumed_and_dead_temp_dirs_removed(
    mirror: Mirror, own_cache: Path
) -> None:
    data = mirror.sdk.read_bytes()
    sha = sdk_mirror.hashlib.sha256(data).hexdigest()
    target_dir = own_cache / "sdk" / RELEASE / "x86-64"
    target_dir.mkdir(parents=True)
    (target_dir / f"{sha[:16]}.tar.zst.part").write_bytes(data[:1000])
    dead = target_dir / f".{sha[:16]}.kmodkit-999999999-x.tmp"
    (dead / "half-unpacked").mkdir(parents=True)
    fetch_sdk(mirror.options())
    (only,) = mirror.server.requests_for(SDK_SUFFIX)
    assert only.headers["Range"] == "bytes=1000-" and only.body == data[1000:]
    assert not dead.exists() and leftovers(own_cache) == []


def test_a_server_without_range_support_restarts_the_download(mirror: Mirror) -> None:
    data = mirror.sdk.read_bytes()
    mirror.server.ignore_range = True
    mirror.server.cut_once[str(mirror.sdk.relative_to(mirror.site.root))] = 2 << 20
    result = fetch_sdk(mirror.options())
    _, second = mirror.server.requests_for(SDK_SUFFIX)
    assert second.headers.get("Range") and second.status == 200 and second.body == data
    assert result.downloaded


@pytest.mark.parametrize("ext", ["zst", "xz"])
def test_both_archive_formats(mirror: Mirror, sdk_archives: dict[str, Path], ext: str) -> None:
    mirror.site.add_release("24.10.5", sdk_archives[ext])
    result = fetch_sdk(mirror.options(release="24.10.5"))
    assert result.sdk.sdk_file.endswith(f".tar.{ext}")
    assert (result.path / "rules.mk").read_text() == "# rules\n"


def test_a_tampered_tarball_is_refused_and_nothing_is_unpacked(
    mirror: Mirror, own_cache: Path
) -> None:
    data = bytearray(mirror.sdk.read_bytes())
    data[len(data) // 2] ^= 0x01
    mirror.sdk.write_bytes(bytes(data))
    with pytest.raises(FetchError, match="differs from the signed sha256sums") as info:
        fetch_sdk(mirror.options())
    assert "\n" not in str(info.value) and SDK_SUFFIX in str(info.value)
    assert sdk_cache.entries(own_cache / "sdk" / RELEASE / "x86-64") == []
    assert leftovers(own_cache) == []


def test_tampered_sha256sums_fail_the_signature(mirror: Mirror) -> None:
    sums = mirror.tdir / "sha256sums"
    sums.write_text(sums.read_text().replace("profiles.json", "profiles.jsom"))
    with pytest.raises(SignatureError, match="does not match the signed file"):
        fetch_sdk(mirror.options())


def test_a_signature_over_other_bytes_is_bad(
    mirror: Mirror, signing_key: usign.UsignSecretKey
) -> None:
    (mirror.tdir / "sha256sums.sig").write_text(usign.sign(b"other", signing_key).to_text())
    with pytest.raises(SignatureError, match="does not match"):
        fetch_sdk(mirror.options())


def test_a_missing_signature_is_fatal(mirror: Mirror) -> None:
    (mirror.tdir / "sha256sums.sig").unlink()
    with pytest.raises(FetchError, match="signature missing"):
        fetch_sdk(mirror.options())


def test_an_unknown_key_is_refused(mirror: Mirror, signing_key: usign.UsignSecretKey) -> None:
    stranger, _ = usign.generate_keypair("not trusted")
    mirror.site.resign(mirror.tdir, key=stranger)
    with pytest.raises(SignatureError, match=f"unknown key {stranger.key_id_hex}") as info:
        fetch_sdk(mirror.options())
    assert signing_key.key_id_hex in str(info.value)


def test_the_bundled_key_of_the_series_is_required_without_keys(mirror: Mirror) -> None:
    """Without --keys only OpenWrt's pinned 24.10 key is trusted, so the test key is unknown."""
    with pytest.raises(SignatureError, match="trusted: d310c6f2833e97f7"):
        fetch_sdk(mirror.options(keys_dir=None))


def test_unknown_target_lists_what_the_mirror_has(mirror: Mirror) -> None:
    with pytest.raises(FetchError, match=r"target ath79/generic not found .* has: x86/64") as info:
        fetch_sdk(mirror.options(target="ath79/generic"))
    assert "releases/24.10.4/targets/ath79/generic/sha256sums" in str(info.value)


def test_a_mirror_answering_503_falls_back_to_the_next(
    mirror: Mirror, other_server: HTTPServer
) -> None:
    broken = serve(other_server, mirror.site.root)
    broken.down = True
    down_url = other_server.url_for("").rstrip("/")
    result = fetch_sdk(mirror.options(mirrors=(down_url, mirror.url)))
    assert result.downloaded
    assert len(broken.requests_for("sha256sums")) == HTTP.attempts  # retried, then moved on
    assert {s.status for s in broken.log} == {503}
    assert result.sdk.mirror == mirror.url


def test_transient_503_is_retried_on_the_same_mirror(mirror: Mirror) -> None:
    path = str(mirror.sdk.relative_to(mirror.site.root))
    mirror.server.fail_503[path] = 2
    assert fetch_sdk(mirror.options()).downloaded
    assert [s.status for s in mirror.server.requests_for(SDK_SUFFIX)] == [503, 503, 200]


def test_a_kernel_other_than_profiles_json_announces_is_refused(
    mirror: Mirror, own_cache: Path, sdk_archives: dict[str, Path]
) -> None:
    mirror.site.add_release("24.10.6", sdk_archives["zst"], vermagic="0" * 32)
    with pytest.raises(FetchError, match=r"vermagic is 1745ebad.* profiles\.json"):
        fetch_sdk(mirror.options(release="24.10.6"))
    assert sdk_cache.entries(own_cache / "sdk" / "24.10.6" / "x86-64") == []
    assert leftovers(own_cache) == []


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "device", "chain"])
def test_a_malicious_tarball_is_refused(
    mirror: Mirror, own_cache: Path, tmp_path: Path, kind: str
) -> None:
    archive = sdk_mirror.write_compressed(sdk_mirror.evil_tar(kind), tmp_path / "evil.tar.zst")
    mirror.site.add_release("24.10.7", archive)
    with pytest.raises(FormatError, match="unsafe member") as info:
        fetch_sdk(mirror.options(release="24.10.7"))
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert not (own_cache / "evil").exists() and not (own_cache / "sdk" / "evil").exists()
    assert sdk_cache.entries(own_cache / "sdk" / "24.10.7" / "x86-64") == []
    assert leftovers(own_cache) == []


def test_two_concurrent_fetches_download_once(mirror: Mirror) -> None:
    mirror.server.delay[SDK_SUFFIX] = 0.5  # keep the first download in flight
    results: list[object] = []

    def run() -> None:
        try:
            results.append(fetch_sdk(mirror.options()))
        except KmodkitError as exc:  # pragma: no cover - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mirror.server.requests_for(SDK_SUFFIX)) == 1
    paths = {r.path for r in results if not isinstance(r, Exception)}  # type: ignore[attr-defined]
    assert len(results) == 2 and len(paths) == 1
    assert sorted(r.downloaded for r in results) == [False, True]  # type: ignore[attr-defined]


def test_offline_uses_the_cache_without_any_request(mirror: Mirror) -> None:
    first = fetch_sdk(mirror.options())
    before = len(mirror.server.log)
    offline = fetch_sdk(mirror.options(offline=True))
    series = fetch_sdk(mirror.options(release="24.10", offline=True))
    assert offline.path == series.path == first.path
    assert len(mirror.server.log) == before


def test_offline_without_a_cached_sdk_fails_clearly(mirror: Mirror) -> None:
    with pytest.raises(FetchError, match=r"no cached SDK for 24\.10\.4 x86/64 .*--offline"):
        fetch_sdk(mirror.options(offline=True))
    with pytest.raises(FetchError, match=r"no cached 24.10.x SDK"):
        fetch_sdk(mirror.options(release="24.10", offline=True))
    assert mirror.server.log == []


def test_offline_rechecks_the_cached_signature(mirror: Mirror, own_cache: Path) -> None:
    fetch_sdk(mirror.options())
    sums = own_cache / "sdk" / RELEASE / "x86-64" / "sha256sums"
    sums.write_bytes(sums.read_bytes() + b"\n")
    with pytest.raises(SignatureError):
        fetch_sdk(mirror.options(offline=True))


def test_bad_release_names_are_usage_errors(mirror: Mirror) -> None:
    with pytest.raises(KmodkitError, match="not a series"):
        fetch_sdk(replace(mirror.options(), release="../24.10"))
    with pytest.raises(KmodkitError, match="unknown target"):
        fetch_sdk(FetchOptions(release=RELEASE, target="x86/../64", mirrors=(mirror.url,)))


def test_a_fetch_killed_midway_is_resumed_by_the_next_run(mirror: Mirror, own_cache: Path) -> None:
    """A real process is SIGKILLed while downloading; the next fetch asks only for the rest."""
    data = mirror.sdk.read_bytes()
    mirror.server.throttle = SDK_SUFFIX
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from kmodkit.sdk import *; "
            "fetch_sdk(FetchOptions(release=sys.argv[1], target='x86/64', mirrors=(sys.argv[2],),"
            " keys_dir=Path(sys.argv[3])))",
            RELEASE,
            mirror.url,
            str(mirror.keys),
        ],
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    target_dir = own_cache / "sdk" / RELEASE / "x86-64"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(target_dir.glob("*.part")) if target_dir.is_dir() else []
        if parts and parts[0].stat().st_size >= 256 << 10:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    (part,) = target_dir.glob("*.part")
    have = part.stat().st_size
    assert 0 < have < len(data)
    mirror.server.throttle = ""
    before = len(mirror.server.requests_for(SDK_SUFFIX))
    result = fetch_sdk(mirror.options())
    (resumed,) = mirror.server.requests_for(SDK_SUFFIX)[before:]
    assert resumed.headers["Range"] == f"bytes={have}-" and resumed.body == data[have:]
    assert result.downloaded and leftovers(own_cache) == []


def test_proxy_variables_are_honoured(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY routes every request through the proxy (here: the mirror server itself)."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", mirror.url)
    result = fetch_sdk(mirror.options(mirrors=("http://mirror.invalid",)))
    assert result.downloaded and result.sdk.mirror == "http://mirror.invalid"
    assert all(s.headers.get("Host") == "mirror.invalid" for s in mirror.server.log)


def test_snapshot_uses_the_snapshots_tree(mirror: Mirror, sdk_archives: dict[str, Path]) -> None:
    tdir = mirror.site.add_release("snapshot", sdk_archives["zst"])
    assert tdir == mirror.site.root / "snapshots/targets/x86/64"
    result = fetch_sdk(mirror.options(release="snapshot"))
    assert result.sdk.release == "snapshot"
    assert result.sdk.sdk_file == "openwrt-sdk-x86-64_gcc-13.3.0_musl.Linux-x86_64.tar.zst"


def test_kmodkit_mirror_is_the_default_mirror(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMODKIT_MIRROR", mirror.url)
    assert fetch_sdk(mirror.options(mirrors=())).sdk.mirror == mirror.url
