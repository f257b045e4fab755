"""Packages that would write outside the root, or plant devices and setuid files, fail verify.

The hostile ipks are made with Python's own ``tarfile`` (kmodkit's writers refuse to make
them); the hostile apks are kmodkit-packed harmless twins whose ADB bytes are then edited
(names of equal length swapped, a file type changed) and whose unique id is recomputed, so
only the edited fact differs. Each of these passed ``verify --strict`` before.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats import adb
from kmodkit.formats.apk import pack_apk, read_apk
from kmodkit.formats.apk_read import UNIQUE_ID_LEN
from kmodkit.formats.gzipio import gzip_compress
from kmodkit.formats.ipk import pack_ipk, read_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.pathsafety import Member, find_hazards
from kmodkit.verify import VerifyOptions, verify_paths

EPOCH = 1735689600
META = PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x", license="GPL-2.0", source_date_epoch=EPOCH)
Spec = tuple[str, str, int, str]  # name, type (file/dir/symlink/hardlink/fifo/chardev), mode, link


def _tar(members: list[Spec]) -> bytes:
    buf = io.BytesIO()
    types = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "fifo": tarfile.FIFOTYPE,
        "chardev": tarfile.CHRTYPE,
    }
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, mode, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = types[kind], mode, EPOCH, link
            info.uname = info.gname = ""
            data = b"x\n" if kind == "file" else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ipk(members: list[Spec]) -> bytes:
    """A kmodkit-packed ipk whose data.tar.gz is replaced by ``members`` (tarfile-made)."""
    good = pack_ipk(
        PackageInput(META, (Entry("etc/x", "file", 0o644, b"x\n"),)), source_date_epoch=EPOCH
    )
    with tarfile.open(fileobj=io.BytesIO(good), mode="r:gz") as outer:
        parts = {m.name: outer.extractfile(m).read() for m in outer.getmembers()}  # type: ignore[union-attr]
    parts["./data.tar.gz"] = gzip_compress(_tar([("./", "dir", 0o755, ""), *members]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("./debian-binary", "./data.tar.gz", "./control.tar.gz"):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uname, info.gname = (
                len(parts[name]),
                EPOCH,
                0o644,
                "",
                "",
            )
            tar.addfile(info, io.BytesIO(parts[name]))
    return gzip_compress(buf.getvalue())


def _strict_failures(tmp_path: Path, name: str, blob: bytes) -> dict[str, str]:
    path = tmp_path / name
    path.write_bytes(blob)
    report = verify_paths([path], options=VerifyOptions())
    return {r.check_id: r.message for r in report.results if r.status != "pass"}


HOSTILE_IPKS: list[tuple[str, list[Spec], str, str]] = [
    ("dotdot", [("./../../x", "file", 0o644, "")], "container.unsafe-path", "'..'"),
    (
        "dotdot-inside",
        [("./etc/../../../etc/cron.d/evil", "file", 0o644, "")],
        "container.unsafe-path",
        "'..'",
    ),
    ("absolute", [("/etc/cron.d/evil", "file", 0o644, "")], "container.unsafe-path", "absolute"),
    (
        "link-to-root",
        [("./etc", "symlink", 0o777, "/"), ("./etc/cron.d", "file", 0o644, "")],
        "container.escaping-link",
        "package root itself",
    ),
    (
        "link-up",
        [("./lib", "symlink", 0o777, "../../.."), ("./lib/file", "file", 0o644, "")],
        "container.escaping-link",
        "written through the symlink lib",
    ),
    (
        "hardlink-out",
        [("./shadow", "hardlink", 0o644, "/etc/shadow")],
        "container.hardlink",
        "/etc/shadow, which is absolute",
    ),
    (
        "duplicate",
        [
            ("./etc/", "dir", 0o755, ""),
            ("./etc/x", "file", 0o644, ""),
            ("./etc/x", "file", 0o755, ""),
        ],
        "container.duplicate",
        "stored twice",
    ),
    ("setuid", [("./sbin/su", "file", 0o4755, "")], "container.setuid", "setuid"),
    ("setgid", [("./sbin/sg", "file", 0o2755, "")], "container.setuid", "setgid"),
    ("fifo", [("./run/p", "fifo", 0o644, "")], "container.special-file", "fifo"),
    ("device", [("./dev/mem", "chardev", 0o600, "")], "container.special-file", "character device"),
]


@pytest.mark.parametrize(("label", "members", "check", "words"), HOSTILE_IPKS)
def test_hostile_ipks_fail_their_check(
    tmp_path: Path, label: str, members: list[Spec], check: str, words: str
) -> None:
    failures = _strict_failures(tmp_path, f"{label}_1_x86_64.ipk", _ipk(members))
    assert check in failures and words in failures[check], failures


def test_a_benign_twin_passes_so_the_failures_are_the_members(tmp_path: Path) -> None:
    benign = [("./etc/", "dir", 0o755, ""), ("./etc/x", "file", 0o644, "")]
    failures = _strict_failures(tmp_path, "kmod-x_6.6.93-r1_x86_64.ipk", _ipk(benign))
    assert not [c for c in failures if c.startswith("container.")], failures


def test_internal_hardlink_only_warns(tmp_path: Path) -> None:
    members: list[Spec] = [("./a", "file", 0o644, ""), ("./b", "hardlink", 0o644, "./a")]
    path = tmp_path / "kmod-x_6.6.93-r1_x86_64.ipk"
    path.write_bytes(_ipk(members))
    report = verify_paths([path], options=VerifyOptions())
    [result] = [r for r in report.results if r.check_id == "container.hardlink"]
    assert result.status == "warn" and not report.ok(strict=True)


def test_read_ipk_reports_paths_as_stored() -> None:
    members: list[Spec] = [
        ("./../../../../tmp/x", "file", 0o644, ""),
        ("./lib", "symlink", 0o777, "../../.."),
        ("./b", "hardlink", 0o644, "/etc/shadow"),
        ("./run/p", "fifo", 0o644, ""),
    ]
    pkg = read_ipk(_ipk(members), "h.ipk")
    assert [(e.path, e.kind, e.target) for e in pkg.entries] == [
        ("../../../../tmp/x", "file", ""),
        ("lib", "symlink", "../../.."),
        ("b", "hardlink", "/etc/shadow"),
        ("run/p", "fifo", ""),
    ]


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("etc", "symlink", 0o777, target="/"), Entry("etc/x", "file")],
        [Entry("lib", "symlink", 0o777, target="../../..")],
        [Entry("a", "file"), Entry("b", "hardlink", target="a")],
        [Entry("sbin/su", "file", 0o4755)],
        [Entry("run/p", "fifo")],
        [Entry("../x", "file")],
    ],
)
def test_writers_refuse_hostile_entries(entries: list[Entry]) -> None:
    pkg = PackageInput(META, tuple(entries))
    with pytest.raises(FormatError):
        pack_ipk(pkg, source_date_epoch=EPOCH)
    with pytest.raises(FormatError):
        pack_apk(pkg, source_date_epoch=EPOCH)


# ------------------------------------------------------------------------------------- apk


def _edit_apk(entries: list[Entry], edits: list[tuple[bytes, bytes]]) -> bytes:
    """Pack ``entries``, swap each ``old`` (found exactly once in the ADB block) for ``new``
    of the same length, then recompute the unique id as apk mkpkg would."""
    blob = pack_apk(PackageInput(META, tuple(entries)), source_date_epoch=EPOCH)
    container = adb.parse_container(blob, "x.apk")
    payload = bytearray(container.adb)
    for old, new in edits:
        assert len(old) == len(new) and payload.count(old) == 1, old
        at = payload.index(old)
        payload[at : at + len(old)] = new
    uid = read_apk(blob).unique_id
    at = payload.index(uid)
    payload[at : at + UNIQUE_ID_LEN] = bytes(UNIQUE_ID_LEN)
    payload[at : at + UNIQUE_ID_LEN] = hashlib.sha256(payload).digest()[:UNIQUE_ID_LEN]
    blocks = [(adb.BLOCK_ADB, bytes(payload))] + [(b.type, b.payload) for b in container.blocks[1:]]
    return adb.compress(adb.build_stream(adb.SCHEMA_PACKAGE, blocks), "deflate")


def _int(value: int) -> bytes:
    return adb.make_val(adb.T_INT, value).to_bytes(4, "little")


LINK, HARD, CHR, FIFO = (t.to_bytes(2, "little") for t in (0xA000, 0x8000, 0x2000, 0x1000))
HOSTILE_APKS: list[tuple[str, list[Entry], list[tuple[bytes, bytes]], str, str]] = [
    (
        "dotdot",
        [Entry("XX/XX/XX/etc/cron.d/evil", "file", 0o644, b"x")],
        [(b"XX/XX/XX/etc/cron.d", b"../../../etc/cron.d")],
        "container.unsafe-path",
        "'..'",
    ),
    (
        "absolute",
        [Entry("Xetc/cron.d/evil", "file", 0o644, b"x")],
        [(b"Xetc/cron.d", b"/etc/cron.d")],
        "container.unsafe-path",
        "absolute",
    ),
    (
        "link-to-root",
        [Entry("etc", "symlink", 0o777, target="Q")],
        [(LINK + b"Q", LINK + b"/")],
        "container.escaping-link",
        "package root itself",
    ),
    (
        "link-up-and-through",
        [Entry("opt", "symlink", 0o777, target="QQ/QQ/QQ"), Entry("opq/file", "file", 0o644, b"x")],
        [(LINK + b"QQ/QQ/QQ", LINK + b"../../.."), (b"opq", b"opt")],
        "container.escaping-link",
        "written through the symlink opt",
    ),
    (
        "hardlink-out",
        [Entry("shadow", "symlink", 0o777, target="/etc/shadow")],
        [(LINK + b"/etc/shadow", HARD + b"/etc/shadow")],
        "container.hardlink",
        "/etc/shadow, which is absolute",
    ),
    (
        "duplicate",
        [Entry("etc/evil1", "file", 0o644, b"x"), Entry("etc/evil2", "file", 0o644, b"y")],
        [(b"evil2", b"evil1")],
        "container.duplicate",
        "stored twice",
    ),
    (
        "setuid",
        [Entry("sbin/su", "file", 0o751, b"x")],
        [(_int(0o751), _int(0o4751))],
        "container.setuid",
        "setuid",
    ),
    (
        "device",
        [Entry("dev/mem", "symlink", 0o777, target="12345678")],
        [(LINK + b"12345678", CHR + bytes(8))],
        "container.special-file",
        "character device",
    ),
    (
        "fifo",
        [Entry("run/p", "symlink", 0o777, target="12345678")],
        [(LINK + b"12345678", FIFO + bytes(8))],
        "container.special-file",
        "fifo",
    ),
]


@pytest.mark.parametrize(("label", "entries", "edits", "check", "words"), HOSTILE_APKS)
def test_hostile_apks_fail_their_check(
    tmp_path: Path,
    label: str,
    entries: list[Entry],
    edits: list[tuple[bytes, bytes]],
    check: str,
    words: str,
) -> None:
    failures = _strict_failures(tmp_path, "kmod-x-6.6.93-r1.apk", _edit_apk(entries, edits))
    assert check in failures and words in failures[check], failures
    assert "apk.unique-id" not in failures  # the edit is the only thing wrong
    twin = _strict_failures(tmp_path, "kmod-x-6.6.93-r1.apk", _edit_apk(entries, []))
    assert not [c for c in twin if c.startswith("container.")], twin


def test_real_packages_pass_every_container_check(testdata: Path) -> None:
    """OpenWrt's own kernel ipk and apk-tools' packages break none of the rules."""
    paths = [
        *testdata.glob("ipk/*.ipk"),
        *testdata.glob("apk/*.apk"),
        *testdata.glob("apk/feed/*.apk"),
    ]
    results = verify_paths(paths, options=VerifyOptions()).results
    container = [r for r in results if r.check_id.startswith("container.")]
    assert len(container) == 6 * len(paths) and all(r.status == "pass" for r in container)


_PART = st.sampled_from(["etc", "lib", "x", "..", "."])
_PATH = st.tuples(st.sampled_from(["./", "/", ""]), st.lists(_PART, min_size=1, max_size=3)).map(
    lambda t: t[0] + "/".join(t[1])
)
_MEMBER = st.tuples(
    _PATH,
    st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo"]),
    st.sampled_from([0o644, 0o4755]),
    _PATH,
).map(lambda m: (m[0], m[1], m[2], m[3] if m[1] in ("symlink", "hardlink") else ""))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_MEMBER, min_size=1, max_size=5))
def test_verify_reports_exactly_what_the_rules_find(tmp_path: Path, members: list[Spec]) -> None:
    """Whatever data.tar holds, each container.* check fails exactly when a rule is broken."""
    path = tmp_path / "kmod-x_6.6.93-r1_x86_64.ipk"
    path.write_bytes(_ipk(members))
    broken = {
        f"container.{h.kind}"
        for h in find_hazards(
            Member(n, k, m, link) for n, k, m, link in [("./", "dir", 0o755, ""), *members]
        )
    }
    results = verify_paths([path], options=VerifyOptions()).results
    flagged = {
        r.check_id for r in results if r.check_id.startswith("container.") and r.status != "pass"
    }
    assert flagged == broken
