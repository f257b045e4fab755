"""The verifier's fast readers agree with the standard library and stay strict.

tarscan walks headers with one struct unpack and an adler32-based checksum; the Depends memo
shares parses between an index and its packages. Both are checked against independent code.
"""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.verify import managers
from kmodkit.verify.checks_ipk import _tar_problems
from kmodkit.verify.tarscan import TarMember, _byte_sum, read_tar


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=512, max_size=512))
def test_header_byte_sum_is_exact(block: bytes) -> None:
    assert _byte_sum(block) == sum(block)


def test_all_ff_header_sum_is_exact() -> None:
    assert _byte_sum(b"\xff" * 512) == 512 * 255


def _tarfile_archive(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        entries = [
            ("./", tarfile.DIRTYPE, b"", 0o755),
            ("./lib/modules/6.6.93/" + "x" * 90 + "/nf_flow_table.ko", tarfile.REGTYPE, b"k", 0),
            ("./etc/modules.d/30-nf-flow", tarfile.REGTYPE, b"nf_flow_table\n", 0o644),
            ("./etc/modules-boot.d/30-nf-flow", tarfile.SYMTYPE, b"", 0o777),
        ]
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mode = kind, len(data), mode or 0o644
            info.mtime, info.uid, info.gid = 1735689600, 0, 0
            if kind == tarfile.SYMTYPE:
                info.linkname = "../modules.d/30-nf-flow"
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_read_tar_agrees_with_tarfile(fmt: int) -> None:
    archive = _tarfile_archive(fmt)
    ours = read_tar(archive, "t.tar")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        theirs = tar.getmembers()
        files = [tar.extractfile(m) if m.isfile() else None for m in theirs]
        payloads = [f.read() if f else b"" for f in files]
    assert [m.name.rstrip("/") for m in ours] == [t.name for t in theirs]  # tarfile strips "/"
    assert [(m.size, m.mode, m.mtime, m.linkname) for m in ours] == [
        (t.size, t.mode, t.mtime, t.linkname) for t in theirs
    ]
    assert [m.data for m in ours] == payloads
    assert {m.magic for m in ours} == {"gnu" if fmt == tarfile.GNU_FORMAT else "ustar"}


def test_every_corrupted_header_byte_is_caught() -> None:
    archive = _tarfile_archive(tarfile.GNU_FORMAT)
    for at in range(0, 512, 7):
        broken = bytearray(archive)
        broken[at] ^= 0x01
        with pytest.raises(FormatError, match=r"t\.tar@\d+: (bad tar header checksum|bad octal)"):
            read_tar(bytes(broken), "t.tar")


def test_depends_memo_returns_fresh_lists_and_callers_own_errors() -> None:
    value = "kernel (=6.6.93~" + "a" * 32 + "-r1), kmod-nf-conntrack | kmod-nf-ct-x"
    first = managers.parse_depends("opkg", value, "a.ipk:Depends")
    first[0].append(first[1][0])  # a caller mutating its result
    second = managers.parse_depends("opkg", value, "b.ipk:Depends")
    assert [[str(d) for d in group] for group in second] == [
        ["kernel (=6.6.93~" + "a" * 32 + "-r1)"],
        ["kmod-nf-conntrack", "kmod-nf-ct-x"],
    ]
    for where in ("one.ipk:Depends", "two.ipk:Depends"):
        with pytest.raises(FormatError, match=where):
            managers.parse_depends("opkg", "kernel (=", where)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["./", "./a", "./a-b", "./a/b", "./a/b/", "./a.b", "./a/b/c"])))
def test_sort_check_matches_component_order(names: list[str]) -> None:
    """tar --sort=name order is per path component ("a/b" before "a-b")."""
    members = [TarMember(n, "0", 0, 0o644, 0, 0, "", "", 0, "gnu", "", b"") for n in names]
    keys = [n.rstrip("/").split("/") for n in names]
    flagged = any("not sorted" in p for p in _tar_problems(members, "data", sort=True))
    assert flagged == (keys != sorted(keys))
