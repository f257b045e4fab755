"""verify's metadata checks use the catalog's tables and the one file-name function."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.catalog.tables import releases, targets
from kmodkit.errors import UsageError
from kmodkit.formats.apk import apk_filename
from kmodkit.formats.ipk import ipk_filename, pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta, package_filename
from kmodkit.formats.opkg_feed import write_opkg_feed
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.checks_meta import catalog_release, target_arch

EPOCH = 1735689600


def test_package_filename_follows_ipkg_build_epoch_rule() -> None:
    """ipkg-build's ``sed 's/^.://'`` drops a one-character epoch and keeps a longer one."""
    assert package_filename("ipk", "a", "1:2.0-1", "x86_64") == "a_2.0-1_x86_64.ipk"
    assert package_filename("ipk", "a", "10:2.0-1", "x86_64") == "a_10:2.0-1_x86_64.ipk"
    assert package_filename("ipk", "a", "2.0-1", "all") == "a_2.0-1_all.ipk"
    assert package_filename("apk", "a", "2.0-r1", "x86_64") == "a-2.0-r1.apk"
    meta = PackageMeta("kmod-x", "1:6.6.93-r1", "x86_64", "x")
    assert ipk_filename(meta) == "kmod-x_6.6.93-r1_x86_64.ipk"
    assert apk_filename(PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x")) == "kmod-x-6.6.93-r1.apk"


def test_epoch_package_named_by_the_packer_passes_meta_name(tmp_path: Path) -> None:
    """The packer dropped the epoch and verify wanted it: a kmodkit ipk failed meta.name."""
    meta = PackageMeta("kmod-x", "1:6.6.93-r1", "x86_64", "x", source_date_epoch=EPOCH)
    path = tmp_path / ipk_filename(meta)
    path.write_bytes(
        pack_ipk(
            PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x"),)), source_date_epoch=EPOCH
        )
    )
    report = verify_paths([path], options=VerifyOptions())
    [name] = [r for r in report.results if r.check_id == "meta.name"]
    assert name.status == "pass", name


def test_target_arch_is_the_catalogs() -> None:
    for key, target in targets().items():
        assert target_arch(key) == target.pkg_arch
    assert target_arch("x86_64") == target_arch("x86-64") == "x86_64"
    assert target_arch("mips_24kc") == "mips_24kc"  # shared by several targets: still an arch
    with pytest.raises(UsageError, match="unknown target"):
        target_arch("nonsense/board")


def test_release_rules_are_the_catalogs() -> None:
    for name, release in releases().items():
        assert catalog_release(name) == release
    assert catalog_release("24.10.2").name == "24.10"
    assert catalog_release("SNAPSHOT-r28000").name == "snapshot"
    with pytest.raises(UsageError, match="unknown release"):
        catalog_release("99.99")


def test_unknown_target_and_release_fail_instead_of_guessing(tmp_path: Path) -> None:
    meta = PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x", source_date_epoch=EPOCH)
    path = tmp_path / ipk_filename(meta)
    path.write_bytes(
        pack_ipk(
            PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x"),)), source_date_epoch=EPOCH
        )
    )
    report = verify_paths([path], options=VerifyOptions(target="nonsense/board", release="99.99"))
    failed = {r.check_id: r.message for r in report.failures()}
    assert "unknown target 'nonsense/board'" in failed["meta.arch"]
    assert "unknown release '99.99'" in failed["meta.release"]
    good = verify_paths([path], options=VerifyOptions(target="x86/64", release="24.10"))
    statuses = {r.check_id: r.status for r in good.results}
    assert statuses["meta.arch"] == statuses["meta.release"] == "pass"


def test_packages_stanza_without_filename(tmp_path: Path) -> None:
    """The file is looked up by its ipk name (it was looked up as an .apk), and the stanza
    fails feed.entry: opkg downloads only what Filename names."""
    meta = PackageMeta("kmod-x", "1:6.6.93-r1", "x86_64", "x", source_date_epoch=EPOCH)
    name = ipk_filename(meta)
    blob = pack_ipk(
        PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x"),)), source_date_epoch=EPOCH
    )
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / name).write_bytes(blob)
    write_opkg_feed(feed, [(name, blob)], None)
    packages = (feed / "Packages").read_bytes()
    (feed / "Packages").write_bytes(packages.replace(f"Filename: {name}\n".encode(), b""))
    results = {r.check_id: r for r in verify_paths([feed], options=VerifyOptions()).results}
    assert results["feed.missing"].status == "pass"
    assert results["feed.sha256"].status == "pass"
    assert results["feed.entry"].status == "fail"
    assert f"no Filename (want {name})" in results["feed.entry"].message
