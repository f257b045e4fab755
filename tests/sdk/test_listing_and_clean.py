"""sdk.list and sdk.clean as library calls."""

from __future__ import annotations

from pathlib import Path

from kmodkit.sdk import cache as sdk_cache
from kmodkit.sdk import fetch_sdk, list_sdks
from sdk_mirror import RELEASE, Mirror


def test_list_releases_targets_and_the_cache(mirror: Mirror, sdk_archives: dict[str, Path]) -> None:
    mirror.site.add_release("23.05.6", sdk_archives["xz"], board="ath79", sub="generic")
    listing = list_sdks(None, mirrors=(mirror.url,))
    assert listing.releases == [RELEASE, "23.05.6", "snapshot"]
    assert list_sdks("24.10", mirrors=(mirror.url,)).targets == ["x86/64"]
    assert list_sdks("23.05.6", mirrors=(mirror.url,)).targets == ["ath79/generic"]
    assert list_sdks(None, offline=True).cached == []
    fetch_sdk(mirror.options())
    (cached,) = list_sdks("24.10", offline=True).cached
    assert (cached.release, cached.target) == (RELEASE, "x86/64")


def test_clean_keeps_the_newest_and_drops_leftovers(
    mirror: Mirror, sdk_archives: dict[str, Path], own_cache: Path
) -> None:
    old = fetch_sdk(mirror.options())
    mirror.site.add_release(RELEASE, sdk_archives["xz"])  # a re-spin: new archive, same release
    for stale in mirror.tdir.glob("*.tar.zst"):
        stale.unlink()
    mirror.site.resign(mirror.tdir)
    new = fetch_sdk(mirror.options())
    assert new.sdk.entry != old.sdk.entry
    target_dir = own_cache / "sdk" / RELEASE / "x86-64"
    (target_dir / "0123456789abcdef.tar.zst.part").write_bytes(b"x")
    (target_dir / ".0123456789abcdef.kmodkit-999999999-y.tmp").mkdir()

    result = sdk_cache.clean(keep=1)
    assert result.kept == [new.sdk.entry] and result.freed > 0
    assert old.sdk.entry in result.removed and not old.sdk.entry.exists()
    assert sorted(p.name for p in target_dir.iterdir() if p.name.startswith(("0", "."))) == [
        ".lock"
    ]
    assert sdk_cache.clean(keep=0).kept == [] and not new.sdk.entry.exists()
