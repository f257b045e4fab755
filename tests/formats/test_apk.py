"""apk v3 packages against apk-tools 3.0.6 vectors (tests/vectors/apk)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import adb, apk_schema
from kmodkit.formats.adb import AdbReader, AdbWriter
from kmodkit.formats.apk import apk_filename, pack_apk, read_apk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta

SDE = 1735689600
HASH = "1745ebad77278f5cdc8330d17a3f43d6"
VECTOR = "kmod-nft-offload-6.6.93-r1"


def tree_entries(apkdir: Path) -> list[Entry]:
    """The staged tree as entries (the alias .ko is a symlink in the real staging dir)."""
    out = []
    root = apkdir / "tree"
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_dir():
            out.append(Entry(rel, "dir", 0o755))
        elif p.is_symlink() or rel.endswith("nft-flow-offload-alias.ko"):
            target = str(p.readlink()) if p.is_symlink() else p.read_text()
            out.append(Entry(rel, "symlink", 0o777, target=target))
        else:
            out.append(Entry(rel, "file", 0o644, p.read_bytes()))
    return out


def vector_input(apkdir: Path, entries: list[Entry] | None = None) -> PackageInput:
    meta = PackageMeta(
        name="kmod-nft-offload",
        version="6.6.93-r1",
        arch="x86_64",
        description="Netfilter nf_tables routing/NAT offload support",
        depends=(f"kernel (=6.6.93~{HASH}-r1)", "kmod-nf-flow", "kmod-nft-nat"),
        provides=("kmod-nft-offload-any",),
        source="feeds/base/kernel/linux",
    )
    scripts = {
        "postinst": (apkdir / "scripts/post-install").read_text(),
        "prerm": (apkdir / "scripts/pre-deinstall").read_text(),
    }
    return PackageInput(meta, tuple(entries or tree_entries(apkdir)), scripts)


@pytest.fixture(scope="module")
def apkdir(testdata: Path) -> Path:
    return testdata / "apk"


def dump_view(data: bytes) -> object:
    container = adb.parse_container(data, "t")
    reader = AdbReader(container.adb)
    return apk_schema.to_plain(
        apk_schema.PACKAGE, apk_schema.decode(reader, reader.root, apk_schema.PACKAGE)
    )


@pytest.mark.parametrize(
    "fname", [f"{VECTOR}.apk", f"{VECTOR}.uncompressed.apk", f"feed/{VECTOR}.apk"]
)
def test_decode_equals_adbdump_json(apkdir: Path, fname: str) -> None:
    expected = json.loads((apkdir / f"{VECTOR}.adbdump.json").read_text())
    assert dump_view((apkdir / fname).read_bytes()) == expected


def test_read_apk_fields(apkdir: Path) -> None:
    expected = json.loads((apkdir / f"{VECTOR}.adbdump.json").read_text())
    pkg = read_apk((apkdir / f"{VECTOR}.apk").read_bytes(), "v.apk")
    info = expected["info"]
    assert (pkg.name, pkg.version, pkg.arch, pkg.license, pkg.origin) == (
        info["name"],
        info["version"],
        info["arch"],
        info["license"],
        info["origin"],
    )
    assert list(pkg.depends) == info["depends"]
    assert list(pkg.provides) == info["provides"]
    assert pkg.installed_size == info["installed-size"]
    assert pkg.unique_id.hex() == info["hashes"]
    assert pkg.scripts == expected["scripts"]
    assert pkg.compression == "deflate"
    assert pkg.unique_id_ok and pkg.data_ok and pkg.problems == ()
    assert [b.type for b in pkg.blocks] == ["ADB", "DATA", "DATA", "DATA", "DATA"]
    files = {e.path: e for e in pkg.entries}
    for d in expected["paths"]:
        for f in d.get("files", []):
            path = f"{d['name']}/{f['name']}"
            if "hash" in f:
                assert len(files[path].data) == f["size"]
    link = files["lib/modules/6.6.93/nft-flow-offload-alias.ko"]
    assert (link.kind, link.target) == ("symlink", "nft_flow_offload.ko")


def test_pack_is_byte_identical_to_apk_mkpkg(apkdir: Path) -> None:
    pkg = vector_input(apkdir)
    plain = pack_apk(pkg, source_date_epoch=SDE, compression="none")
    assert plain == (apkdir / f"{VECTOR}.uncompressed.apk").read_bytes()
    assert pack_apk(pkg, source_date_epoch=SDE) == (apkdir / f"{VECTOR}.apk").read_bytes()


def test_pack_independent_of_entry_order(apkdir: Path) -> None:
    entries = tree_entries(apkdir)
    shuffled = entries[:]
    random.Random(7).shuffle(shuffled)
    implicit = [e for e in shuffled if e.kind != "dir"]  # parents are implied
    ref = pack_apk(vector_input(apkdir, entries), source_date_epoch=SDE)
    assert pack_apk(vector_input(apkdir, shuffled), source_date_epoch=SDE) == ref
    assert pack_apk(vector_input(apkdir, implicit), source_date_epoch=SDE) == ref


def test_pack_adds_openwrt_file_list(apkdir: Path) -> None:
    entries = [e for e in tree_entries(apkdir) if not e.path.endswith(".list")]
    pkg = read_apk(pack_apk(vector_input(apkdir, entries), source_date_epoch=SDE))
    listing = {e.path: e.data for e in pkg.entries}["lib/apk/packages/kmod-nft-offload.list"]
    assert listing.decode().splitlines() == [
        "/etc/modules.d/nft-offload",
        "/lib/modules/6.6.93/nf_flow_table_inet.ko",
        "/lib/modules/6.6.93/nft-flow-offload-alias.ko",
        "/lib/modules/6.6.93/nft_flow_offload.ko",
    ]


def test_roundtrip_entries_and_scripts(apkdir: Path) -> None:
    pkg = vector_input(apkdir)
    back = read_apk(pack_apk(pkg, source_date_epoch=SDE))
    want = {e.path: (e.kind, e.data, e.target) for e in pkg.entries}
    got = {e.path: (e.kind, e.data, e.target) for e in back.entries}
    assert got == want
    assert back.scripts == {
        "post-install": pkg.scripts["postinst"],
        "pre-deinstall": pkg.scripts["prerm"],
    }
    assert all(f.mtime == SDE for f in back.files if f.kind != "dir")
    assert {(f.user, f.group) for f in back.files} == {("root", "root")}


def test_apk_filename(apkdir: Path) -> None:
    assert apk_filename(vector_input(apkdir).meta) == f"{VECTOR}.apk"


def test_invalid_version_is_refused() -> None:
    meta = PackageMeta(name="x", version="1.0-1", arch="all", description="d")
    with pytest.raises(FormatError, match="valid apk version"):
        pack_apk(PackageInput(meta, ()), source_date_epoch=SDE)


def test_tampered_data_block_is_reported(apkdir: Path) -> None:
    raw = bytearray((apkdir / f"{VECTOR}.uncompressed.apk").read_bytes())
    raw[-20] ^= 0xFF  # inside the last DATA block (nft_flow_offload.ko)
    pkg = read_apk(bytes(raw))
    assert not pkg.data_ok
    assert any("sha256" in p for p in pkg.problems)


def test_tampered_adb_breaks_unique_id(apkdir: Path) -> None:
    raw = bytearray((apkdir / f"{VECTOR}.uncompressed.apk").read_bytes())
    pos = raw.index(b"Netfilter")
    raw[pos] = ord("n")
    pkg = read_apk(bytes(raw))
    assert not pkg.unique_id_ok
    assert pkg.description.startswith("netfilter")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XDB." + b[4:], "magic"),
        (lambda b: b[:100], "runs past the end"),
        (lambda b: b[:8] + (0x3FFFFFF0).to_bytes(4, "little") + b[12:], "runs past the end"),
        (lambda b: b[:4] + b"indx" + b[8:], "schema"),
        (lambda b: b[:16] + (0xE0FFFFF0).to_bytes(4, "little") + b[20:], "ADB offset"),
    ],
)
def test_corrupt_inputs_raise_format_error(apkdir: Path, mutate: object, message: str) -> None:
    raw = (apkdir / f"{VECTOR}.uncompressed.apk").read_bytes()
    assert callable(mutate)
    with pytest.raises(FormatError, match=message):
        read_apk(mutate(raw), "bad.apk")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_read_apk_only_format_errors(apkdir: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([f"{VECTOR}.uncompressed.apk", f"{VECTOR}.apk"]))
    raw = bytearray((apkdir / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(FormatError):
        read_apk(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw), "fuzz.apk")


def test_decompression_is_capped() -> None:
    bomb = adb.compress(adb.build_stream(adb.SCHEMA_PACKAGE, [(0, bytes(4 << 20))]), "deflate")
    with pytest.raises(FormatError, match="limit"):
        adb.parse_container(bomb, "bomb.apk", max_size=1 << 20)


def _package_stream(build: object) -> bytes:
    w = AdbWriter()
    assert callable(build)
    w.set_root(build(w))
    return adb.build_stream(adb.SCHEMA_PACKAGE, [(adb.BLOCK_ADB, w.payload())])


def test_self_reference_and_shared_blowup_are_bounded() -> None:
    # root's info slot points at the root object itself: a type error, not a recursion
    loop = bytearray(_package_stream(lambda w: w.obj([w.blob(b"x")])))
    loop[16:20] = (0xE0000000 | 8).to_bytes(4, "little")
    loop[24:28] = (0xE0000000 | 8).to_bytes(4, "little")
    with pytest.raises(FormatError):
        read_apk(bytes(loop))

    def shared(w: AdbWriter) -> int:
        file = w.obj([w.blob(b"f"), adb.NULL, w.integer(1)])
        directory = w.obj([w.blob(b"d"), adb.NULL, w.obj([file] * 3000)])
        return w.obj([adb.NULL, w.obj([directory] * 3000)])

    with pytest.raises(FormatError, match="too many values"):
        read_apk(_package_stream(shared))


def test_output_independent_of_environment(apkdir: Path, tmp_path: Path) -> None:
    code = (
        "import hashlib,sys; sys.path[:0]=[sys.argv[1]]; import test_apk as t;"
        "from pathlib import Path;"
        "d=t.pack_apk(t.vector_input(Path(sys.argv[2])), source_date_epoch=t.SDE);"
        "print(hashlib.sha256(d).hexdigest())"
    )
    ref = hashlib.sha256(pack_apk(vector_input(apkdir), source_date_epoch=SDE)).hexdigest()
    env = {**os.environ, "TZ": "Asia/Kathmandu", "LC_ALL": "C", "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [
            "sh",
            "-c",
            'umask 077; exec "$0" -c "$1" "$2" "$3"',
            sys.executable,
            code,
            str(Path(__file__).parent),
            str(apkdir),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ref


def test_shared_blob_bytes_are_bounded() -> None:
    """Few values, but one 60 KB name shared by 3,000 directories decodes to 180 MB."""
    from kmodkit.limits import LimitExceeded

    def shared(w: AdbWriter) -> int:
        directory = w.obj([w.blob(b"d" * 60_000)])
        return w.obj([adb.NULL, w.obj([directory] * 3000)])

    with pytest.raises(LimitExceeded, match=r"MAX_ADB_DECODED_BYTES limit \(64 MiB\)"):
        read_apk(_package_stream(shared))
