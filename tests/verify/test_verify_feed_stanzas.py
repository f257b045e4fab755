"""verify reads control files and Packages with the formats readers (issue 10 §7, §8).

A lone-space line inside a Description is OpenWrt's paragraph break, not the end of a stanza:
verify's private Packages parser got that wrong, so real feeds and kmodkit's own failed.
"""

from __future__ import annotations

from pathlib import Path

from kmodkit.formats.control import read_control
from kmodkit.formats.gzipio import gzip_compress, gzip_decompress
from kmodkit.formats.ipk import pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import parse_packages, write_opkg_feed
from kmodkit.formats.tarball import read_tar, write_gnu_tar
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.bases import load_base
from kmodkit.verify.model import Findings

EPOCH = 1735689600
DNSMASQ = "dnsmasq-full_2.90-2_mips_24kc.ipk"


def _ipk_with_control(text: str) -> bytes:
    meta = PackageMeta("x", "1", "all", "x", source_date_epoch=EPOCH)
    ipk = pack_ipk(
        PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x\n"),)), source_date_epoch=EPOCH
    )
    outer = read_tar(gzip_decompress(ipk, "o")[0], "o").members
    control = read_tar(gzip_decompress(outer[2].data, "c")[0], "c").members
    members = [control[0], control[1]._replace(data=text.encode())]
    control_gz = gzip_compress(write_gnu_tar(members))
    return gzip_compress(write_gnu_tar([outer[0], outer[1], outer[2]._replace(data=control_gz)]))


def _status(results: list, check: str) -> str:  # type: ignore[type-arg]
    return {r.check_id: r.status for r in results}[check]


def test_real_multi_paragraph_stanza_in_a_feed(testdata: Path, tmp_path: Path) -> None:
    text = (testdata / "ipk" / "third-party-23.05-dnsmasq-full.control").read_text()
    assert "\n \n" in text  # the lone-space paragraph line
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / DNSMASQ).write_bytes(_ipk_with_control(text))
    write_opkg_feed(feed, [(DNSMASQ, (feed / DNSMASQ).read_bytes())], None)
    report = verify_paths([feed], options=VerifyOptions())
    index = [r for r in report.results if r.check_id == "feed.index"]
    assert [r.status for r in index] == ["pass"], index
    assert _status(report.results, "feed.entry") == "pass"


def test_two_paragraph_description_kmodkit_wrote_passes_its_own_index(tmp_path: Path) -> None:
    meta = PackageMeta(
        "kmod-x",
        "6.6.93-r1",
        "x86_64",
        "First paragraph.\n\nSecond paragraph.",
        source_date_epoch=EPOCH,
    )
    blob = pack_ipk(
        PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x\n"),)), source_date_epoch=EPOCH
    )
    feed = tmp_path / "feed"
    feed.mkdir()
    name = "kmod-x_6.6.93-r1_x86_64.ipk"
    (feed / name).write_bytes(blob)
    write_opkg_feed(feed, [(name, blob)], None)
    assert (
        b"Description:  First paragraph.\n \n Second paragraph.\n"
        in (feed / "Packages").read_bytes()
    )
    report = verify_paths([feed], options=VerifyOptions())
    for check in ("feed.index", "feed.entry", "feed.sha256", "feed.unindexed"):
        assert _status(report.results, check) == "pass", report.failures()


def test_index_base_reads_a_real_multi_paragraph_stanza(testdata: Path, tmp_path: Path) -> None:
    text = (testdata / "ipk" / "third-party-23.05-dnsmasq-full.control").read_text()
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    blob = _ipk_with_control(text)
    write_opkg_feed(base_dir, [(DNSMASQ, blob)], None)
    # a second stanza after the multi-paragraph one must survive too
    extra = b"Package: after\nVersion: 1\nArchitecture: all\n\n"
    (base_dir / "Packages").write_bytes((base_dir / "Packages").read_bytes() + extra)
    findings = Findings()
    base = load_base(str(base_dir), findings)
    assert base is not None, findings.results()
    by_name = {e.name: e for e in base.entries}
    assert sorted(by_name) == ["after", "dnsmasq-full"]
    assert by_name["dnsmasq-full"].provides == ["dnsmasq"]
    assert [d.name for g in by_name["dnsmasq-full"].depends for d in g][:2] == [
        "libc",
        "libubus20230605",
    ]


def test_stanza_facts_order_duplicates_and_lines() -> None:
    stanza = read_control("Package: a\nVersion: 1\nDescription:  x\n \n y\nVersion: 2\n", "c")
    assert stanza.order == ["Package", "Version", "Description"]
    assert stanza.duplicates == [("Version", 6)] and stanza.lines == (1, 2, 3, 6)
    assert dict(stanza)["Version"] == "2" and stanza.value("Description") == "x\n\ny"


def test_duplicate_control_field_fails_meta_fields(tmp_path: Path) -> None:
    text = "Package: kmod-x\nVersion: 6.6.93-r1\nArchitecture: x86_64\nVersion: 9\n"
    path = tmp_path / "kmod-x_9_x86_64.ipk"
    path.write_bytes(_ipk_with_control(text + "Installed-Size: 1\nDescription:  x\n"))
    failed = {
        r.check_id: r.message for r in verify_paths([path], options=VerifyOptions()).failures()
    }
    assert "field Version appears twice (line 4)" in failed["meta.fields"]


def test_continuation_lines_are_linear() -> None:
    """200k continuation lines: a quadratic join (the old verify copy) would take minutes."""
    lines = 200_000
    text = "Package: a\nDescription:  x\n" + " more text on this line\n" * lines
    assert read_control(text, "c").value("Description").count("\n") == lines
    stanzas = parse_packages(text.encode() + b"\nPackage: b\n", "Packages")
    assert [s.value("Package") for s in stanzas] == ["a", "b"]
    assert stanzas[1].first_line == lines + 4
