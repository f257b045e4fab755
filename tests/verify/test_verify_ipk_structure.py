"""verify's ipk structure checks on top of the formats readers.

The ipk checks read layers with formats.tarball/gzipio (their speed tricks are tested in
tests/formats/test_tarball.py); here: the sort-order shortcut against a plain component
comparison, facts only a hand-made archive shows, and the Depends memo.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.errors import FormatError
from kmodkit.formats.gzipio import gzip_compress, gzip_decompress
from kmodkit.formats.ipk import pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.tarball import TarLayer, TarMember, read_tar, write_gnu_tar
from kmodkit.verify import managers
from kmodkit.verify.checks_ipk import _tar_problems, check_ipk
from kmodkit.verify.model import Findings

EPOCH = 1735689600


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
    layer = TarLayer("gnu", tuple(TarMember(n) for n in names), frozenset({"gnu"}))
    keys = [n.rstrip("/").split("/") for n in names]
    flagged = any("not sorted" in p for p in _tar_problems(layer, "data", sort=True))
    assert flagged == (keys != sorted(keys))


def _ipk_with_data_tar(data_tar: bytes) -> bytes:
    """A good ipk whose data.tar.gz is replaced by ``data_tar``, gzip'd like ipkg-build."""
    meta = PackageMeta("kmod-x", "6.6.93-r1", "x86_64", "x", source_date_epoch=EPOCH)
    entries = (Entry("etc", "dir", 0o755), Entry("etc/x.conf", "file", 0o644, b"x\n"))
    good = pack_ipk(PackageInput(meta, entries), source_date_epoch=EPOCH)
    outer = read_tar(gzip_decompress(good, "good")[0], "good").members
    data_gz = gzip_compress(data_tar)
    members = [m._replace(data=data_gz) if m.name == "./data.tar.gz" else m for m in outer]
    return gzip_compress(write_gnu_tar(members))


def _messages(blob: bytes) -> dict[str, str]:
    findings = Findings()
    check_ipk(blob, "x.ipk", findings)
    return {r.check_id: r.message for r in findings.results() if r.status == "fail"}


def _data_tar() -> bytes:
    return write_gnu_tar(
        [
            TarMember("./", "dir", 0o755, mtime=EPOCH),
            TarMember("./etc/", "dir", 0o755, mtime=EPOCH),
            TarMember("./etc/x.conf", "file", 0o644, b"x\n", mtime=EPOCH),
        ]
    )


def test_v7_headers_fail_the_tar_format_check() -> None:
    tar = bytearray(_data_tar())
    head = tar[512:1024]  # ./etc/ as a pre-POSIX header: no magic, no owner names
    head[257:265] = bytes(8)
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\x00 " % sum(head)
    tar[512:1024] = head
    assert _messages(_ipk_with_data_tar(bytes(tar))) == {
        "ipk.container.tar-format": "data.tar.gz is not GNU/ustar format (gnu, v7)"
    }


def test_data_tar_without_end_blocks_fails_the_container() -> None:
    tar = _data_tar()
    assert _messages(_ipk_with_data_tar(tar)) == {}
    cut = tar[: 4 * 512]  # three headers and one data block: no end-of-archive block
    assert read_tar(cut, "cut").members[-1].data == b"x\n"
    failures = _messages(_ipk_with_data_tar(cut))
    assert list(failures) == ["ipk.container.outer"]
    assert (
        "x.ipk:data.tar.gz: tar archive truncated (no end-of-archive block"
        in failures["ipk.container.outer"]
    )
