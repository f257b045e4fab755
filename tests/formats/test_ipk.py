"""ipk: the real 23.05.2 kernel ipk reads and re-packs byte for byte; our ipks match its shape."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats.control import field_value
from kmodkit.formats.gzipio import PARALLEL_MIN, gzip_compress, gzip_decompress
from kmodkit.formats.ipk import (
    OUTER_MEMBERS,
    ipk_filename,
    pack_ipk,
    read_ipk,
)
from kmodkit.formats.model import OPENWRT_POSTINST, OPENWRT_PRERM, Entry, PackageInput, PackageMeta
from kmodkit.formats.tarball import read_tar

REAL = "openwrt-23.05.2-kernel_5.15.137-1-db5fae317c7dec03ba9a83c32ababa81_mips_24kc.ipk"
EPOCH = 1735689600
KVER = "6.6.93"


def _real(testdata: Path) -> bytes:
    return (testdata / "ipk" / REAL).read_bytes()


def sample_input() -> PackageInput:
    meta = PackageMeta(
        name="kmod-nft-offload",
        version="6.6.93-r1",
        arch="x86_64",
        description="Netfilter nf_tables routing/NAT offload support",
        depends=(
            "kernel (=6.6.93~1745ebad77278f5cdc8330d17a3f43d6-r1)",
            "kmod-nf-flow",
            "kmod-nft-nat",
        ),
        provides=("kmod-nft-offload-any",),
        source="feeds/base/kernel/linux",
        source_name="kernel",
        source_date_epoch=EPOCH,
    )
    entries = (
        Entry(f"lib/modules/{KVER}/nft_flow_offload.ko", "file", 0o644, b"\x7fELF" + bytes(3000)),
        Entry(f"lib/modules/{KVER}/nf_flow_table_inet.ko", "file", 0o644, b"\x7fELFinet"),
        Entry(f"lib/modules/{KVER}/alias.ko", "symlink", target="nft_flow_offload.ko"),
        Entry(
            "etc/modules.d/nft-offload", "file", 0o644, b"nf_flow_table_inet\nnft_flow_offload\n"
        ),
        Entry("etc/modules-boot.d/nft-offload", "symlink", target="../modules.d/nft-offload"),
        Entry("etc/config/offload", "file", 0o600, b"config x\n"),
        Entry("usr/sbin/offload-helper", "file", 0o755, b"#!/bin/sh\n"),
        Entry("a-b", "file", 0o644, b"sorts after a/ in GNU tar's per-directory order"),
        Entry("a", "dir", 0o750),
        Entry("a/b", "file", 0o644, b""),
    )
    return PackageInput(
        meta,
        entries,
        {"postinst": OPENWRT_POSTINST, "prerm": OPENWRT_PRERM},
        ("/etc/config/offload", "/etc/config/missing"),
    )


def test_real_kernel_ipk_reads_with_every_field(testdata: Path) -> None:
    pkg = read_ipk(_real(testdata), REAL)
    assert pkg.meta.name == "kernel"
    assert pkg.meta.version == "5.15.137-1-db5fae317c7dec03ba9a83c32ababa81"
    assert pkg.meta.arch == "mips_24kc" and pkg.meta.depends == ("libc",)
    assert pkg.meta.source == "package/kernel/linux" and pkg.meta.source_name == "kernel"
    assert pkg.meta.section == "sys" and pkg.meta.source_date_epoch == 1698709443
    assert field_value(pkg.fields, "Installed-Size") == "96" == str(pkg.data.compressed_size)
    assert pkg.meta.description == "Virtual kernel package"
    assert set(pkg.scripts) == {"postinst", "prerm"}
    assert pkg.scripts["postinst"] == OPENWRT_POSTINST and pkg.scripts["prerm"] == OPENWRT_PRERM
    assert pkg.entries == ()
    assert pkg.outer_format == "tar.gz" and pkg.debian_binary == b"2.0\n"
    assert pkg.outer_members == ("./debian-binary", "./data.tar.gz", "./control.tar.gz")
    for layer in (pkg.outer, pkg.data, pkg.control):
        assert layer.gzip is not None
        assert (layer.gzip.flags, layer.gzip.mtime, layer.gzip.os) == (0, 0, 3)
        assert layer.tar_format == "gnu"
        assert {(e.uid, e.gid, e.uname, e.gname, e.mtime) for e in layer.entries} == {
            (0, 0, "", "", 1698709443)
        }
    assert [e.name for e in pkg.control.entries] == ["./", "./control", "./postinst", "./prerm"]


def test_real_kernel_ipk_repacks_byte_for_byte(testdata: Path) -> None:
    real = _real(testdata)
    pkg = read_ipk(real, REAL)
    again = pack_ipk(pkg.to_input(), source_date_epoch=1698709443, installed_size="data.tar.gz")
    assert again == real
    assert (
        ipk_filename(pkg.meta) == "kernel_5.15.137-1-db5fae317c7dec03ba9a83c32ababa81_mips_24kc.ipk"
    )


def test_our_ipk_has_the_real_shape(testdata: Path) -> None:
    real = read_ipk(_real(testdata), REAL)
    ours = read_ipk(pack_ipk(sample_input(), source_date_epoch=EPOCH), "ours.ipk")
    assert ours.outer_members == real.outer_members
    for mine, theirs in (
        (ours.outer, real.outer),
        (ours.data, real.data),
        (ours.control, real.control),
    ):
        assert mine.tar_format == theirs.tar_format == "gnu"
        assert mine.gzip == theirs.gzip
        assert {(e.uid, e.gid, e.uname, e.gname) for e in mine.entries} == {(0, 0, "", "")}
        assert {e.mtime for e in mine.entries} == {EPOCH}
    names = [e.name for e in ours.data.entries]
    assert names[:4] == ["./", "./a/", "./a/b", "./a-b"]
    assert (
        names.index("./etc/") < names.index("./etc/config/") < names.index("./etc/config/offload")
    )
    assert ours.conffiles == ("/etc/config/offload",)  # missing conffiles dropped like ipkg-build
    modes = {e.name: e.mode for e in ours.control.entries}
    assert modes == {
        "./": 0o755,
        "./conffiles": 0o644,
        "./control": 0o644,
        "./postinst": 0o755,
        "./prerm": 0o755,
    }


def test_round_trip_entries_and_metadata() -> None:
    pkg = sample_input()
    ours = read_ipk(pack_ipk(pkg, source_date_epoch=EPOCH), "ours.ipk")
    assert ours.meta == pkg.meta
    by_path = {e.path: e for e in ours.entries}
    for entry in pkg.entries:
        got = by_path[entry.path]
        assert (got.kind, got.data, got.target) == (entry.kind, entry.data, entry.target)
        assert got.mode == (0o777 if entry.kind == "symlink" else entry.mode)
    assert by_path["lib/modules"] == Entry("lib/modules", "dir", 0o755)  # implied parents
    assert ours.scripts == pkg.scripts


def test_installed_size_profiles() -> None:
    pkg = sample_input()
    new = read_ipk(pack_ipk(pkg, source_date_epoch=EPOCH, installed_size="data.tar"), "n")
    old = read_ipk(pack_ipk(pkg, source_date_epoch=EPOCH, installed_size="data.tar.gz"), "o")
    assert field_value(new.fields, "Installed-Size") == str(new.data.uncompressed_size)
    assert field_value(old.fields, "Installed-Size") == str(old.data.compressed_size)
    assert new.data.uncompressed_size % 10240 == 0


def test_reproducible_across_order_umask_tz_and_locale() -> None:
    pkg = sample_input()
    reference = pack_ipk(pkg, source_date_epoch=EPOCH)
    shuffled = list(pkg.entries)
    random.Random(7).shuffle(shuffled)
    permuted = PackageInput(
        pkg.meta,
        tuple(reversed(shuffled)),
        dict(reversed(pkg.scripts.items())),
        pkg.conffiles[::-1],
    )
    old_umask = os.umask(0o077)
    old_tz = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Pacific/Chatham"
        time.tzset()
        assert pack_ipk(permuted, source_date_epoch=EPOCH) == reference
    finally:
        os.umask(old_umask)
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
    code = (
        "import hashlib, importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('t', {str(Path(__file__))!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "from kmodkit.formats.ipk import pack_ipk\n"
        f"blob = pack_ipk(m.sample_input(), source_date_epoch={EPOCH})\n"
        "print(hashlib.sha256(blob).hexdigest())\n"
    )
    env = {
        **os.environ,
        "TZ": "Asia/Kathmandu",
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONHASHSEED": "123",
    }
    out = subprocess.run(
        ["sh", "-c", 'umask 002; exec "$0" -c "$1"', sys.executable, code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == hashlib.sha256(reference).hexdigest()


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        head = (
            (name + "/").encode().ljust(16)
            + b"0".ljust(12)
            + b"0".ljust(6) * 2
            + b"100644".ljust(8)
        )
        out += head + str(len(data)).encode().ljust(10) + b"`\n" + data + b"\n" * (len(data) & 1)
    return out


def test_reads_debian_style_ar_outer() -> None:
    tar_gz = read_ipk(pack_ipk(sample_input(), source_date_epoch=EPOCH), "x")
    raw = pack_ipk(sample_input(), source_date_epoch=EPOCH)
    inner = {m.name[2:]: m.data for m in read_tar(gzip_decompress(raw, "x")[0], "x").members}
    blob = _ar([(n, inner[n]) for n in ("debian-binary", "control.tar.gz", "data.tar.gz")])
    pkg = read_ipk(blob, "deb-style.ipk")
    assert pkg.outer_format == "ar" and pkg.outer.gzip is None
    assert pkg.outer_members == ("debian-binary", "control.tar.gz", "data.tar.gz")
    assert pkg.meta == tar_gz.meta and pkg.entries == tar_gz.entries


def _big_input() -> PackageInput:
    """Modules past PARALLEL_MIN in all: the data and outer layers take the chunked path."""
    rng = random.Random(5)
    words = [rng.randbytes(rng.randint(2, 9)) for _ in range(300)]
    entries = tuple(
        Entry(
            f"lib/modules/{KVER}/m{i:02d}.ko",
            "file",
            0o644,
            b"".join(rng.choice(words) for _ in range(PARALLEL_MIN // 5 // 6)),
        )
        for i in range(12)
    )
    return PackageInput(sample_input().meta, entries, {"postinst": OPENWRT_POSTINST})


def test_large_ipk_is_valid_and_independent_of_workers(tmp_path: Path) -> None:
    pkg = _big_input()
    blob = pack_ipk(pkg, source_date_epoch=EPOCH, max_workers=4)
    assert pack_ipk(pkg, source_date_epoch=EPOCH, max_workers=1) == blob
    assert pack_ipk(pkg, source_date_epoch=EPOCH, max_workers=4) == blob
    back = read_ipk(blob, "big.ipk")
    assert back.data.uncompressed_size > PARALLEL_MIN
    assert {e.path: e.data for e in back.entries if e.kind == "file"} == {
        e.path: e.data for e in pkg.entries
    }
    tar = shutil.which("tar")
    assert tar, "tar is needed to read the ipk with the real tools"
    (tmp_path / "big.ipk").write_bytes(blob)
    listing = subprocess.run(
        [tar, "-xzvf", "big.ipk"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert listing == list(OUTER_MEMBERS)
    data = subprocess.run(
        [tar, "-tzf", "data.tar.gz"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert f"./lib/modules/{KVER}/m11.ko" in data and len(data) == 4 + 12


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((Entry("../etc/x"),), "bad package path"),
        ((Entry("/etc/x"),), "bad package path"),
        ((Entry("a"), Entry("a")), "duplicate"),
        ((Entry("a"), Entry("a/b")), "is a file but holds"),
        ((Entry("l", "symlink"),), "no target"),
    ],
)
def test_pack_rejects_bad_entries(entries: tuple[Entry, ...], message: str) -> None:
    pkg = PackageInput(sample_input().meta, entries)
    with pytest.raises(FormatError, match=message):
        pack_ipk(pkg, source_date_epoch=EPOCH)


def test_reader_errors_are_format_errors(testdata: Path) -> None:
    with pytest.raises(FormatError, match="bad magic at offset 0"):
        read_ipk(b"PK\x03\x04" + bytes(100), "zip.ipk")
    real = _real(testdata)
    with pytest.raises(FormatError, match="truncated"):
        read_ipk(real[:400], "cut.ipk")
    with pytest.raises(FormatError, match="limit"):
        read_ipk(real, "small.ipk", max_unpacked=1000)
    with pytest.raises(FormatError, match="unknown maintainer script"):
        pack_ipk(PackageInput(sample_input().meta, (), {"install": "x"}), source_date_epoch=0)


_SAMPLE = pack_ipk(sample_input(), source_date_epoch=EPOCH)
_SAMPLE_TAR = gzip_decompress(_SAMPLE, "s")[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_read_ipk_raises_only_format_error(data: st.DataObject) -> None:
    """Flip bytes in the outer tar (re-gzipped, so the damage reaches the parsers) or the file."""
    base = bytearray(data.draw(st.sampled_from([_SAMPLE_TAR, _SAMPLE])))
    for _ in range(data.draw(st.integers(1, 6))):
        base[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(base)))
    for blob in (bytes(base), bytes(base[:cut])):
        candidate = gzip_compress(blob) if blob[:2] != b"\x1f\x8b" else blob
        with contextlib.suppress(FormatError):
            read_ipk(candidate, "fuzz.ipk", max_unpacked=1 << 20)
