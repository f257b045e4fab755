"""Hostile metadata becomes a finding, never a traceback (issue 10 §3)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from kmodkit.cli.verify import emit
from kmodkit.formats import adb
from kmodkit.formats.apk import pack_apk
from kmodkit.formats.apk_index import build_index
from kmodkit.formats.control import ascii_uint, format_control, parse_control
from kmodkit.formats.gzipio import gzip_compress, gzip_decompress
from kmodkit.formats.ipk import pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import build_feed_index
from kmodkit.formats.tarball import read_tar, write_gnu_tar
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.report import render_table

EPOCH = 1735689600


def _meta(name: str = "kmod-x") -> PackageMeta:
    return PackageMeta(name, "6.6.93-r1", "x86_64", "x", source_date_epoch=EPOCH)


def _ipk(meta: PackageMeta) -> bytes:
    return pack_ipk(
        PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x\n"),)), source_date_epoch=EPOCH
    )


def _with_control(ipk: bytes, edit: dict[str, str]) -> bytes:
    """``ipk`` with control fields replaced (packed back with kmodkit's own tar writer)."""
    outer = read_tar(gzip_decompress(ipk, "o")[0], "o").members
    control = read_tar(gzip_decompress(outer[2].data, "c")[0], "c").members
    text = control[1].data.decode()
    fields = [(k, edit.get(k, v)) for k, v in parse_control(text, "control")]
    new_control = control[1]._replace(data=format_control(fields).encode())
    control_gz = gzip_compress(write_gnu_tar([control[0], new_control, *control[2:]]))
    return gzip_compress(write_gnu_tar([outer[0], outer[1], outer[2]._replace(data=control_gz)]))


def test_rich_markup_in_names_is_shown_not_parsed(tmp_path: Path) -> None:
    """A package named "[/evil]" crashed the table (MarkupError) before --json was written."""
    path = tmp_path / "[bold]x[red]_1_x86_64.ipk"
    path.write_bytes(_with_control(_ipk(_meta()), {"Package": "[/evil]"}))
    report = verify_paths([path], options=VerifyOptions())
    assert any("[/evil]" in r.message for r in report.results)
    out = io.StringIO()
    console = Console(file=out, width=300, color_system=None)
    console.print(render_table(report, verbose=True))
    assert "[/evil]" in out.getvalue() and "[bold]x[red]" in out.getvalue()
    json_out, junit_out = tmp_path / "r.json", tmp_path / "r.xml"
    status = emit(
        report, strict=True, json_out=str(json_out), junit_out=str(junit_out), console=console
    )
    assert status == 1
    assert json.loads(json_out.read_text())["failed"] == report.failed
    assert "[/evil]" in junit_out.read_text()


def test_unicode_digits_are_not_numbers(tmp_path: Path) -> None:
    assert [ascii_uint(t) for t in ("42", "²", "²2506", "٣", "-1", "")] == [
        42,
        None,
        None,
        None,
        None,
        None,
    ]
    ipk = _with_control(_ipk(_meta()), {"Installed-Size": "²", "SourceDateEpoch": "²"})
    path = tmp_path / "kmod-x_6.6.93-r1_x86_64.ipk"
    path.write_bytes(ipk)
    failed = {
        r.check_id: r.message
        for r in verify_paths([path], options=VerifyOptions()).results
        if r.status == "fail"
    }
    assert "Installed-Size '²'" in failed["meta.fields"]
    assert "'²'" in failed["meta.source-date-epoch"]

    feed = tmp_path / "feed"
    feed.mkdir()
    good = _ipk(_meta())
    (feed / "kmod-x_6.6.93-r1_x86_64.ipk").write_bytes(good)
    packages = build_feed_index([("kmod-x_6.6.93-r1_x86_64.ipk", good)]).packages
    size = f"Size: {len(good)}".encode()
    (feed / "Packages").write_bytes(packages.replace(size, "Size: ²2506".encode()))
    failed = {
        r.check_id: r.message
        for r in verify_paths([feed], options=VerifyOptions()).results
        if r.status == "fail"
    }
    assert "Size '²2506' is not a number" in failed["feed.index"]


def test_apk_dependency_with_an_empty_name(tmp_path: Path) -> None:
    """An index entry depending on "" raised IndexError in checks_apk."""
    meta = PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x", depends=("kmod-qq",))
    apk = pack_apk(
        PackageInput(meta, (Entry("etc/x", "file", 0o644, b"x"),)), source_date_epoch=EPOCH
    )
    container = adb.parse_container(apk, "x.apk")
    payload = container.adb.replace(b"\x07kmod-qq", b"\x00kmod-qq")
    assert payload != container.adb
    blocks = [(adb.BLOCK_ADB, payload)] + [(b.type, b.payload) for b in container.blocks[1:]]
    edited = adb.compress(adb.build_stream(adb.SCHEMA_PACKAGE, blocks), "deflate")
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "kmod-x-6.6.93-r1.apk").write_bytes(edited)
    (feed / "packages.adb").write_bytes(build_index([("kmod-x-6.6.93-r1.apk", edited)]))
    report = verify_paths([feed], options=VerifyOptions())
    deps = [r for r in report.results if r.check_id == "feed.deps"]
    assert deps and deps[0].status == "fail" and "kmod-x: dependency" in deps[0].message
