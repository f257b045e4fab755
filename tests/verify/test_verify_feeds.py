"""verify_paths on feeds and dist trees: index entries, signatures, dependencies, bases."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from kmodkit.verify import VerifyOptions, VerifyReport, verify_paths


def run(paths: list[Path], **kw: object) -> VerifyReport:
    return verify_paths(paths, options=VerifyOptions(**kw))  # type: ignore[arg-type]


def failed_ids(report: VerifyReport) -> set[str]:
    return {r.check_id for r in report.results if r.status == "fail"}


def test_apk_vector_feed_signature_verifies_with_its_key(testdata: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    shutil.copy(testdata / "apk/test-key.pub.pem", keys)
    report = run([testdata / "apk/feed"], keys=keys)
    sig = [r for r in report.results if r.check_id == "feed.signature"]
    assert [r.status for r in sig] == ["pass"]
    hashes = [r for r in report.results if r.check_id in ("feed.adb-hash", "feed.size")]
    assert {r.status for r in hashes} == {"pass"}


def test_good_feed_passes_everything_with_kernel(
    make_ipk, kernel_ipk, write_feed, keys_dir: Path, kernel_dir: Path
) -> None:
    feed = write_feed(
        [
            make_ipk("kmod-nf-a", ["nf_a"]),
            make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"]),
            kernel_ipk,
        ]
    )
    report = run([feed], kernel_dir=kernel_dir, keys=keys_dir, target="x86_64", release="24.10")
    assert report.failed == 0, report.failures()
    assert report.warnings == 0, report.failures()
    ran = {r.check_id for r in report.results}
    assert {
        "kernel.dependency",
        "kernel.vermagic",
        "kernel.module-path",
        "modules.depends",
        "modules.symbols",
        "autoload.modules",
        "feed.sha256",
        "feed.signature",
        "feed.deps",
        "feed.unindexed",
    } <= ran


def test_wrong_sha256sum_in_packages(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], sign=False)
    index = feed / "Packages"
    text = index.read_text()
    sha = next(line.split()[1] for line in text.splitlines() if line.startswith("SHA256sum:"))
    index.write_text(text.replace(sha, "f" * 64))
    report = run([feed], keys=keys_dir)
    bad = report.failures("feed.sha256")
    assert (
        bad and bad[0].artifact == str(index) and "kmod-nf-a_6.6.93-r1_x86_64.ipk" in bad[0].message
    )


def test_unsigned_index(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], sign=False)
    report = run([feed], keys=keys_dir)
    bad = report.failures("feed.signature")
    assert bad and bad[0].status == "fail" and "unsigned" in bad[0].message


def test_wrongly_signed_index(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])])
    with (feed / "Packages").open("a") as fh:
        fh.write("\n")  # the signature no longer covers these bytes
    report = run([feed], keys=keys_dir)
    assert "feed.signature" in failed_ids(report)


def test_index_signed_by_untrusted_key(make_ipk, write_feed, tmp_path: Path) -> None:
    from kmodkit.formats import usign

    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])])
    other = tmp_path / "other-keys"
    other.mkdir()
    (other / "k.pub").write_text(usign.generate_keypair("other")[1].to_text())
    report = run([feed], keys=other)
    bad = report.failures("feed.signature")
    assert bad and "untrusted key" in bad[0].message


def test_dist_tree_keys_are_only_a_warning_and_said_so(
    make_ipk, write_feed, usign_pair, tmp_path: Path
) -> None:
    """A key shipped in the verified tree proves integrity, not origin: WARN, naming --keys."""
    write_feed([make_ipk("kmod-nf-a", ["nf_a"])], name="dist/24.10/x86_64")
    (tmp_path / "dist/keys").mkdir()
    (tmp_path / "dist/keys/kmodkit.pub").write_text(usign_pair[1].to_text())
    report = run([tmp_path / "dist"])
    sig = [r for r in report.results if r.check_id == "feed.signature"]
    assert [r.status for r in sig] == ["warn"]
    assert "shipped inside the verified tree" in sig[0].message and "--keys" in sig[0].message
    assert "kmodkit.pub" in sig[0].message
    assert any("kmodkit.pub" in n for n in report.notes)
    assert not report.ok(strict=True)


def test_unindexed_file_and_missing_dependency(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"])])
    name, data = make_ipk("kmod-stray", ["nf_a"])
    (feed / name).write_bytes(data)
    report = run([feed], keys=keys_dir)
    assert any(name in r.message for r in report.failures("feed.unindexed"))
    deps = report.failures("feed.deps")
    assert deps and "kmod-nf-a" in deps[0].message


def test_index_base_resolves_dependencies(make_ipk, kernel_ipk, write_feed, keys_dir: Path) -> None:
    base = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], name="base")
    feed = write_feed([make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"]), kernel_ipk], name="mine")
    without = run([feed], keys=keys_dir)
    assert "feed.deps" in failed_ids(without)
    report = run([feed], keys=keys_dir, index=(str(base),))
    assert "feed.deps" not in failed_ids(report)
    assert "modules.depends" not in failed_ids(report)  # nf_a found in the base's ipk


def test_index_url_via_http(
    make_ipk, write_feed, keys_dir: Path, kernel_dir: Path, httpserver
) -> None:
    base = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], name="base")
    httpserver.expect_request("/kmods/Packages").respond_with_data((base / "Packages").read_bytes())
    feed = write_feed([make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"])], name="mine")
    # the kernel of --kernel-dir satisfies `kernel (=...)`; kmod-nf-a comes from the URL
    url = httpserver.url_for("/kmods/")
    report = run([feed], keys=keys_dir, kernel_dir=kernel_dir, index=(url,))
    assert "feed.deps" not in failed_ids(report), report.failures()
    missing = run([feed], index=(httpserver.url_for("/nothing/"),))
    assert [r.artifact for r in missing.input_errors] == [httpserver.url_for("/nothing/")]
    assert "HTTP 500" in missing.input_errors[0].message


def test_packages_gz_base(make_ipk, kernel_ipk, write_feed, keys_dir: Path, tmp_path: Path) -> None:
    """A base that has only Packages.gz is read: it resolves a dependency the feed lacks."""
    base = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], name="base")
    only_gz = tmp_path / "gz"
    only_gz.mkdir()
    (only_gz / "Packages.gz").write_bytes(gzip.compress((base / "Packages").read_bytes()))
    feed = write_feed([make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"]), kernel_ipk], name="mine")
    without = run([feed], keys=keys_dir)
    assert any("kmod-nf-a" in r.message for r in without.failures("feed.deps"))
    report = run([feed], keys=keys_dir, index=(str(only_gz),))
    assert report.input_errors == []
    assert report.failures("feed.deps") == []
    (only_gz / "Packages.gz").write_bytes(b"\x1f\x8b not gzip")
    broken = run([feed], keys=keys_dir, index=(str(only_gz),))
    assert [r.artifact for r in broken.input_errors] == [str(only_gz)]


def _apk_feed(tmp_path: Path, modules: dict[str, bytes], signing_key: object) -> Path:
    from kmodkit.formats.apk import pack_apk
    from kmodkit.formats.apk_index import build_index
    from kmodkit.formats.model import Entry, PackageInput, PackageMeta

    feed = tmp_path / "apkfeed"
    feed.mkdir()
    apks = []
    for name, mods, deps in (("kmod-nf-a", ["nf_a"], ()), ("kmod-nf-b", ["nf_b"], ("kmod-nf-a",))):
        entries = [Entry("lib", "dir", 0o755), Entry("lib/modules", "dir", 0o755)]
        entries.append(Entry("lib/modules/6.6.93", "dir", 0o755))
        entries += [Entry(f"lib/modules/6.6.93/{m}.ko", "file", 0o644, modules[m]) for m in mods]
        meta = PackageMeta(name, "6.6.93-r1", "x86_64", name, depends=deps, source_date_epoch=1)
        data = pack_apk(PackageInput(meta, tuple(entries)), source_date_epoch=1)
        apks.append((f"{name}-6.6.93-r1.apk", data))
        (feed / apks[-1][0]).write_bytes(data)
    (feed / "packages.adb").write_bytes(build_index(apks, signing_key=signing_key))  # type: ignore[arg-type]
    return feed


def test_apk_feed_signature_good_and_wrong_key(modules: dict[str, bytes], tmp_path: Path) -> None:
    from kmodkit.formats import apk_sign

    key, other = apk_sign.generate_signing_key(), apk_sign.generate_signing_key()
    feed = _apk_feed(tmp_path, modules, key)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "k.pem").write_bytes(apk_sign.public_key_pem(key.public_key()))
    good = run([feed], keys=trusted)
    feed_results = [r for r in good.results if r.check_id.startswith(("feed.", "apk."))]
    assert len(feed_results) > 8 and all(r.status == "pass" for r in feed_results), feed_results
    assert good.failures("modules.depends") == []  # nf_b's nf_a comes from kmod-nf-a
    assert [r.status for r in good.results if r.check_id == "feed.signature"] == ["pass"]
    (trusted / "k.pem").write_bytes(apk_sign.public_key_pem(other.public_key()))
    bad = run([feed], keys=trusted)
    assert "feed.signature" in failed_ids(bad)


def test_packages_gz_must_match_packages(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])])
    (feed / "Packages.gz").write_bytes(gzip.compress(b"Package: other\n"))
    report = run([feed], keys=keys_dir)
    bad = report.failures("feed.index")
    assert bad and "Packages.gz" in bad[0].message


def test_mixed_arch_feed(make_ipk, write_feed) -> None:
    feed = write_feed(
        [
            make_ipk("kmod-nf-a", ["nf_a"]),
            make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"]),
            make_ipk("kmod-old", ["nf_oldmagic"], arch="mips_24kc"),
        ]
    )
    report = run([feed])
    assert [r.artifact.rsplit("/", 1)[-1] for r in report.failures("meta.arch")] == [
        "kmod-old_6.6.93-r1_mips_24kc.ipk"
    ]


def test_build_layout_dist_tree_passes_with_trusted_keys(
    make_ipk, kernel_ipk, write_feed, usign_pair, keys_dir: Path, tmp_path: Path, kernel_dir: Path
) -> None:
    """The layout `invoke build` writes: ipk/ feed, kernel/ virtual package, keys/<key id>."""
    dist = tmp_path / "dist/24.10/x86-64"
    write_feed(
        [make_ipk("kmod-nf-a", ["nf_a"]), make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"])],
        name="dist/24.10/x86-64/ipk",
    )
    (dist / "kernel").mkdir()
    (dist / "kernel" / kernel_ipk[0]).write_bytes(kernel_ipk[1])
    (dist / "keys").mkdir()
    (dist / "keys" / usign_pair[1].key_id_hex).write_text(usign_pair[1].to_text())
    (dist / "build-report.json").write_text("{}")
    report = run(
        [tmp_path / "dist"], kernel_dir=kernel_dir, target="x86_64", release="24.10", keys=keys_dir
    )
    assert report.failed == 0 and report.warnings == 0, report.failures()
    assert any(r.artifact.endswith(kernel_ipk[0]) for r in report.results)


def test_duplicate_name_version_in_index(make_ipk, write_feed, keys_dir: Path) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], sign=False)
    text = (feed / "Packages").read_text()
    (feed / "Packages").write_text(text + "\n" + text)
    report = run([feed], keys=keys_dir)
    bad = report.failures("feed.duplicate")
    assert bad and "kmod-nf-a 6.6.93-r1 x2" in bad[0].message


def test_versioned_dependency_uses_opkg_comparison(make_ipk, kernel_ipk, write_feed) -> None:
    ok = write_feed(
        [
            make_ipk("kmod-nf-a", ["nf_a"]),
            kernel_ipk,
            make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a (>= 6.6.93~rc1-r1)"]),
        ],
        name="ok",
    )
    assert run([ok]).failures("feed.deps") == []  # ~ sorts before everything: 6.6.93-r1 is newer
    bad = write_feed(
        [
            make_ipk("kmod-nf-a", ["nf_a"]),
            kernel_ipk,
            make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a (>> 6.6.93-r1)"]),
        ],
        name="bad",
    )
    deps = run([bad]).failures("feed.deps")
    assert deps and "kmod-nf-a (>>6.6.93-r1)" in deps[0].message and "6.6.93-r1" in deps[0].message


def test_kernel_of_index_base_is_the_reference(make_ipk, write_feed, tmp_path: Path) -> None:
    from kmodkit.formats.ipk import pack_ipk
    from kmodkit.formats.model import PackageInput, PackageMeta

    official = "6.6.93~" + "b" * 32 + "-r1"
    meta = PackageMeta("kernel", official, "x86_64", "Virtual kernel package", section="sys")
    kernel = (
        f"kernel_{official}_x86_64.ipk",
        pack_ipk(PackageInput(meta, ()), source_date_epoch=1),
    )
    base = tmp_path / "official"
    base.mkdir()
    (base / "Packages").write_text(
        f"Package: kernel\nVersion: {official}\nArchitecture: x86_64\n"
        f"Filename: {kernel[0]}\nSize: 1\nSHA256sum: {'0' * 64}\nDescription:  kernel\n"
    )
    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], index=(str(base),))
    bad = report.failures("kernel.dependency")
    assert bad and "b" * 32 in bad[0].message and str(base) in bad[0].message


def test_dependencies_do_not_resolve_across_architectures(make_ipk, write_feed) -> None:
    """A release tree holds feeds of several targets: an aarch64 kmod is not satisfied by the
    x86_64 package of the same name (its modules could never load on that device)."""
    x86 = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], name="x86_64")
    arm = write_feed(
        [make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"], arch="aarch64_generic")], name="arm"
    )
    alone = run([x86])
    assert alone.failures("modules.depends") == []
    both = run([x86, arm])
    missing = both.failures("modules.depends")
    assert missing and "nf_a" in missing[0].message, both.results
    same_arch = write_feed([make_ipk("kmod-nf-b", ["nf_b"], ["kmod-nf-a"])], name="x86_64-more")
    assert run([x86, same_arch]).failures("modules.depends") == []  # as before within one arch
