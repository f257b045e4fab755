"""verify_paths on good and deliberately broken artifacts: each asserts the precise check id."""

from __future__ import annotations

from pathlib import Path

from kmodkit.verify import VerifyOptions, VerifyReport, verify_paths

CONTAINER_META = ("ipk.container.", "apk.container.", "apk.data-hash", "apk.unique-id", "meta.")


def run(paths: list[Path], **kw: object) -> VerifyReport:
    return verify_paths(paths, options=VerifyOptions(**kw))  # type: ignore[arg-type]


def failed_ids(report: VerifyReport) -> set[str]:
    return {r.check_id for r in report.results if r.status == "fail"}


def test_real_openwrt_23_05_kernel_ipk_passes_container_and_metadata(testdata: Path) -> None:
    ipk = next((testdata / "ipk").glob("*.ipk"))
    report = run([ipk], release="23.05", target="ath79/generic")
    ran = {r.check_id for r in report.results}
    assert {"ipk.container.member-order", "ipk.container.gzip", "meta.installed-size"} <= ran
    assert report.failed == 0, report.failures()
    assert report.ok(strict=True)


def test_23_05_installed_size_rule_is_release_aware(testdata: Path) -> None:
    ipk = next((testdata / "ipk").glob("*.ipk"))
    report = run([ipk], release="24.10")
    assert "meta.installed-size" in failed_ids(report)  # 24.10 counts the uncompressed tar


def test_apk_tools_vectors_pass_container_and_metadata(testdata: Path) -> None:
    apks = [testdata / "apk/kmod-nft-offload-6.6.93-r1.apk", *(testdata / "apk/feed").glob("*.apk")]
    apks.append(testdata / "apk/kmod-nft-offload-6.6.93-r1.uncompressed.apk")
    report = run(apks, target="x86_64")
    relevant = [r for r in report.results if r.check_id.startswith(CONTAINER_META)]
    assert {r.check_id for r in relevant} >= {"apk.data-hash", "apk.unique-id", "meta.depends"}
    assert [r for r in relevant if r.status != "pass"] == []


def test_wrong_arch(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"], arch="mips_24kc")
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], target="x86_64")
    bad = report.failures("meta.arch")
    assert len(bad) == 1 and "mips_24kc" in bad[0].message and "x86_64" in bad[0].message


def test_vermagic_mismatch(make_ipk, tmp_path: Path, kernel_dir: Path) -> None:
    name, data = make_ipk("kmod-old", ["nf_oldmagic"])
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], kernel_dir=kernel_dir)
    bad = report.failures("kernel.vermagic")
    assert bad and "nf_oldmagic.ko" in bad[0].message and "6.1.0-28-amd64" in bad[0].message


def test_vermagic_disagreement_without_kernel(make_ipk, write_feed) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"]), make_ipk("kmod-old", ["nf_oldmagic"])])
    report = run([feed])
    assert [r.artifact for r in report.failures("kernel.consistency")] == [
        str(feed / "kmod-old_6.6.93-r1_x86_64.ipk")
    ]


def test_kernel_dependency_of_another_kernel(make_ipk, tmp_path: Path, kernel_dir: Path) -> None:
    other = "6.6.93~" + "0" * 32 + "-r1"
    name, data = make_ipk("kmod-nf-a", ["nf_a"], kernel=other)
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], kernel_dir=kernel_dir)
    bad = report.failures("kernel.dependency")
    assert bad and "0" * 32 in bad[0].message


def test_module_path_outside_kernel_release(make_ipk, tmp_path: Path, kernel_dir: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"], release_dir="6.6.92")
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], kernel_dir=kernel_dir)
    assert "kernel.module-path" in failed_ids(report)


def test_modinfo_dependency_without_depends_names_the_missing_package(
    make_ipk, write_feed, kernel_dir: Path
) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"]), make_ipk("kmod-nf-b", ["nf_b"])])
    report = run([feed], kernel_dir=kernel_dir)
    deps = report.failures("modules.depends")
    assert len(deps) == 1 and deps[0].artifact.endswith("kmod-nf-b_6.6.93-r1_x86_64.ipk")
    assert "nf_a" in deps[0].message and "add 'kmod-nf-a' to Depends" in deps[0].message
    syms = report.failures("modules.symbols")
    assert syms and "a_func" in syms[0].message


def test_symbol_nobody_exports(make_ipk, tmp_path: Path, kernel_dir: Path) -> None:
    name, data = make_ipk("kmod-orphan", ["nf_orphan"])
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], kernel_dir=kernel_dir)
    bad = report.failures("modules.symbols")
    assert bad and "nobody_exports_this" in bad[0].message
    assert report.failures("modules.depends") == []


def test_autoload_names_a_module_nobody_ships(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"], autoload=["nf_a", "nf_ghost"])
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name])
    bad = report.failures("autoload.modules")
    assert bad and "nf_ghost" in bad[0].message


def test_truncated_ipk(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    report = run([path])
    bad = report.failures("ipk.container.outer")
    assert bad and "truncated" in bad[0].message
    assert report.input_errors == []


def test_garbage_bytes(tmp_path: Path) -> None:
    (tmp_path / "junk_1_x86_64.ipk").write_bytes(b"\x00garbage" * 50)
    (tmp_path / "junk-1.apk").write_bytes(b"\xffgarbage" * 7)
    (tmp_path / "junk-2.apk").write_bytes(b"ADB.garbage" * 7)
    paths = [tmp_path / "junk_1_x86_64.ipk", tmp_path / "junk-1.apk", tmp_path / "junk-2.apk"]
    report = run(paths)
    by_artifact = {r.artifact: r.check_id for r in report.results if r.status == "fail"}
    assert by_artifact == {
        str(paths[0]): "ipk.container.outer",
        str(paths[1]): "apk.container.blocks",
        str(paths[2]): "apk.container.schema",
    }


def test_apk_data_not_matching_hashes(tmp_path: Path) -> None:
    from kmodkit.formats.apk import pack_apk
    from kmodkit.formats.model import Entry, PackageInput, PackageMeta

    payload = b"MODULE-BYTES-" * 8
    meta = PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x", source_date_epoch=1)
    pkg = PackageInput(
        meta, (Entry("etc", "dir", 0o755), Entry("etc/x.conf", "file", 0o644, payload))
    )
    data = pack_apk(pkg, source_date_epoch=1, compression="none")
    at = data.rindex(payload)
    broken = data[:at] + b"X" + data[at + 1 :]
    path = tmp_path / "kmod-x-6.6.93-r1.apk"
    path.write_bytes(broken)
    report = run([path])
    assert "apk.data-hash" in failed_ids(report)
    path.write_bytes(data)
    assert "apk.data-hash" not in failed_ids(run([path]))


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    report = run([tmp_path / "nope.ipk"])
    assert [r.check_id for r in report.input_errors] == ["input.unreadable"]
    assert "no such file" in report.input_errors[0].message


def test_bad_keys_dir_is_an_input_error(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    (tmp_path / name).write_bytes(data)
    report = run([tmp_path / name], keys=tmp_path / "no-keys")
    assert [r.artifact for r in report.input_errors] == [str(tmp_path / "no-keys")]


def test_release_version_scheme(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"], version="6.6.93-1")
    (tmp_path / name).write_bytes(data)
    bad = run([tmp_path / name], release="24.10").failures("meta.release")
    assert bad and "6.6.93-1" in bad[0].message and "-r<N>" in bad[0].message
    old = run([tmp_path / name], release="23.05").failures("meta.release")
    assert old and "another release's scheme" in old[0].message  # its kernel dep is 24.10-style


def test_repacked_ipk_with_python_tarfile_is_caught(make_ipk, tmp_path: Path) -> None:
    """Python's tarfile writes PAX and owner names, and here the members are out of order."""
    import io
    import tarfile

    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as src:
        for m in src.getmembers():
            fh = src.extractfile(m)
            assert fh is not None
            members[m.name] = fh.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as out:
        for member in ("./control.tar.gz", "./data.tar.gz", "./debian-binary"):
            info = tarfile.TarInfo(member)
            info.size, info.uname, info.mtime = len(members[member]), "builder", 1
            info.pax_headers = {"comment": "x"}
            out.addfile(info, io.BytesIO(members[member]))
    (tmp_path / name).write_bytes(buf.getvalue())
    report = run([tmp_path / name])
    assert {"ipk.container.member-order", "ipk.container.tar-format"} <= failed_ids(report)
    fmt = report.failures("ipk.container.tar-format")[0].message
    assert "PAX" in fmt and "builder" in fmt
