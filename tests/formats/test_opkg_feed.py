"""opkg feed index: manifest/Packages/Packages.gz/Packages.sig as OpenWrt writes them."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import usign
from kmodkit.formats.ipk import ipk_filename, pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import (
    build_feed_index,
    filter_packages,
    parse_packages,
    write_opkg_feed,
)

EPOCH = 1735689600


def _ipk(name: str, description: str = "A module", maintainer: str = "") -> tuple[str, bytes]:
    meta = PackageMeta(
        name=name,
        version="6.6.93-r1",
        arch="x86_64",
        description=description,
        depends=("kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1)",),
        source="feeds/base/kernel/linux",
        source_name="kernel",
        maintainer=maintainer,
        license_files="COPYING",
        source_date_epoch=EPOCH,
    )
    pkg = PackageInput(meta, (Entry(f"lib/modules/6.6.93/{name}.ko", data=name.encode()),))
    return ipk_filename(meta), pack_ipk(pkg, source_date_epoch=EPOCH)


def test_index_stanzas_fields_and_order() -> None:
    ipks = [_ipk("kmod-nft-offload", "Offload\nsecond line", "Someone <a@b>"), _ipk("kmod-nf-flow")]
    index = build_feed_index(ipks)
    assert index == build_feed_index(list(reversed(ipks)))  # input order is irrelevant
    manifest = parse_packages(index.manifest, "Packages.manifest")
    assert [dict(s)["Package"] for s in manifest] == ["kmod-nf-flow", "kmod-nft-offload"]
    names = dict(ipks)
    for stanza in manifest:
        fields = dict(stanza)
        blob = names[fields["Filename"]]
        assert fields["Size"] == str(len(blob))
        assert fields["SHA256sum"] == hashlib.sha256(blob).hexdigest()
        keys = [k for k, _ in stanza]
        assert keys[keys.index("Description") - 3 : keys.index("Description")] == [
            "Filename",
            "Size",
            "SHA256sum",
        ]
        assert "SourceDateEpoch" in keys and "LicenseFiles" in keys  # the manifest keeps them
        assert ("Maintainer" in keys) == (fields["Package"] == "kmod-nft-offload")
    packages = parse_packages(index.packages, "Packages")
    for stanza in packages:
        present = {k for k, _ in stanza}
        assert not present & {
            "Maintainer",
            "LicenseFiles",
            "Source",
            "SourceName",
            "SourceDateEpoch",
        }
        assert {"Package", "Version", "Depends", "Filename", "SHA256sum", "Description"} <= present
    assert dict(packages[1])["Description"] == "Offload\nsecond line"
    assert (
        index.manifest.endswith(b"\n\n")
        and b"Description:  Offload\n second line\n" in index.packages
    )
    assert gzip.decompress(index.packages_gz) == index.packages
    assert index.packages_gz[:10] == bytes.fromhex("1f8b0800000000000203")  # gzip -9n


def test_kernel_and_libc_are_not_indexed_and_empty_feed_is_a_newline() -> None:
    kernel = _ipk("kernel")
    assert build_feed_index([kernel]).manifest == b""
    assert build_feed_index([]).manifest == b"\n"
    with pytest.raises(FormatError, match="duplicate"):
        build_feed_index([kernel, kernel])


def test_filter_is_a_line_filter_like_grep() -> None:
    manifest = b"Package: a\nSourceDateEpoch: 1\nRequire-User: x\nSourcery: y\nVersion: 1\n\n"
    assert filter_packages(manifest) == b"Package: a\nVersion: 1\n\n"


def test_padding_applies_to_packages_and_gz() -> None:
    filename, _blob = _ipk("kmod-x")
    for extra in range(200):  # vary the description until the size hits the bad residues
        index = build_feed_index([(filename, _ipk("kmod-x", "d" * (extra + 1))[1])])
        unpadded = filter_packages(index.manifest)
        if (64 + len(unpadded)) % 128 in (110, 111):
            assert index.packages == unpadded + b"\n\n"
            assert gzip.decompress(index.packages_gz) == index.packages
            break
    else:
        pytest.fail("no description length produced a padded index")


def test_write_feed_signs_packages(tmp_path: Path, testdata: Path) -> None:
    sec = usign.read_secret_key((testdata / "usign" / "test.sec").read_text())
    pub = usign.read_public_key((testdata / "usign" / "test.pub").read_text())
    ipks = [_ipk("kmod-a"), _ipk("kmod-b")]
    paths = write_opkg_feed(tmp_path, ipks, sec)
    assert sorted(p.name for p in paths) == [
        "Packages",
        "Packages.gz",
        "Packages.manifest",
        "Packages.sig",
    ]
    sig = usign.read_signature((tmp_path / "Packages.sig").read_text())
    assert usign.verify((tmp_path / "Packages").read_bytes(), sig, pub)
    assert (
        (tmp_path / "Packages.sig")
        .read_text()
        .startswith("untrusted comment: signed by key 789e6c99ecb9bfd8\n")
    )
    first = {p.name: p.read_bytes() for p in paths}
    write_opkg_feed(tmp_path, list(reversed(ipks)), sec)
    assert {p.name: p.read_bytes() for p in paths} == first
    write_opkg_feed(tmp_path, ipks, None)
    assert not (tmp_path / "Packages.sig").exists()  # a stale signature would not verify


def test_parse_real_packages_vector(testdata: Path) -> None:
    stanzas = parse_packages((testdata / "usign" / "Packages").read_bytes(), "Packages")
    assert [dict(s)["Package"] for s in stanzas] == ["kmod-nf-flow", "kmod-nft-offload"]
    assert dict(stanzas[1])["Depends"].startswith(
        "kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1)"
    )


def test_parse_tolerates_crlf_blank_runs_and_padding() -> None:
    text = (
        b"\n\nPackage: a\r\nVersion: 1\r\nDescription:  x\r\n  \r\n more\r\n"
        b"\r\n\r\n\nPackage: b\n\n\n"
    )
    stanzas = parse_packages(text, "P")
    assert [dict(s)["Package"] for s in stanzas] == ["a", "b"]
    assert dict(stanzas[0])["Description"] == "x\n\nmore"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Package: a\nVersion 1\n", "line 2"),
        (b"Package: a\n\nVersion: 1\n", "line 3: stanza without a Package"),
        (b"Package: a\n\xff\n", "byte offset 11"),
        (b"\x00\x01\x02garbage", "line 1"),
    ],
)
def test_parse_errors_carry_line_numbers(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_packages(data, "Packages")


def test_large_index_parses() -> None:
    stanza = (
        "Package: kmod-{i}\nVersion: 6.6.93-r1\nDepends: kernel (=6.6.93~x-r1), kmod-nf-flow\n"
        "License: GPL-2.0\nSection: kernel\nArchitecture: x86_64\nInstalled-Size: 1024\n"
        "Filename: kmod-{i}_6.6.93-r1_x86_64.ipk\nSize: 1234\nSHA256sum: {h}\n"
        "Description:  Module {i}\n second line\n\n"
    )
    data = "".join(stanza.format(i=i, h="0" * 64) for i in range(5000)).encode()
    stanzas = parse_packages(data, "Packages")
    assert len(stanzas) == 5000 and dict(stanzas[-1])["Package"] == "kmod-4999"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet="Pa: \n\t-kgV1é", max_size=200).map(str.encode))
def test_fuzz_parse_packages(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        for stanza in parse_packages(data, "Packages"):
            assert any(key == "Package" for key, _ in stanza)
