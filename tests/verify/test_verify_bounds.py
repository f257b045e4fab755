"""verify's memory does not grow with the number of packages, bombs stop at their named limit,
and kmodkit's own temporary directories are not verified.

Memory is measured with tracemalloc (peak bytes allocated), never with a clock.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from hostile_inputs import gzip_bomb
from kmodkit.formats.model import Entry
from kmodkit.fsutil import atomic_directory
from kmodkit.verify import VerifyOptions, VerifyReport, verify_paths
from kmodkit.verify.discover import discover, is_kmodkit_temporary
from kmodkit.verify.model import Findings
from kmodkit.verify.reading import read_package

MiB = 1 << 20


def _peak(fn: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _failures(report: VerifyReport, check: str) -> list[str]:
    return [r.message for r in report.results if r.check_id == check and r.status == "fail"]


def test_file_data_is_released_once_the_package_is_checked(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-a", mods=["nf_a"])
    (tmp_path / name).write_bytes(data)
    view = read_package(tmp_path / name, name, Findings(), VerifyOptions())
    assert view is not None and view.modules is not None
    ko = "lib/modules/6.6.93/nf_a.ko"
    assert view.files[ko] == b""  # the name stays (checks need it), the bytes are gone
    assert view.modules[ko].vermagic.startswith("6.6.93")
    assert view.files["etc/modules.d/a"] == b"nf_a\n"  # the autoload list is kept


def test_peak_memory_does_not_grow_with_the_number_of_packages(make_ipk, tmp_path: Path) -> None:
    """Six packages of 24 MiB each: verify holds about one of them at a time, not six."""
    big = Entry("usr/share/big.bin", "file", 0o644, bytes(24 * MiB))
    for i in range(6):
        name, data = make_ipk(f"big{i}", extra=[big])
        (tmp_path / name).write_bytes(data)
    report, peak = _peak(lambda: verify_paths([tmp_path], options=VerifyOptions()))
    assert isinstance(report, VerifyReport)
    assert len({r.artifact for r in report.results}) == 6
    assert peak < 4 * 24 * MiB, f"peak {peak >> 20} MiB"


def test_packages_gz_bomb_stops_at_the_size_of_packages(
    make_ipk, write_feed, keys_dir: Path
) -> None:
    feed = write_feed([make_ipk("kmod-a", mods=["nf_a"])])
    (feed / "Packages.gz").write_bytes(gzip_bomb(256 * MiB))
    report, peak = _peak(lambda: verify_paths([feed], options=VerifyOptions(keys=keys_dir)))
    assert isinstance(report, VerifyReport)
    [message] = _failures(report, "feed.index")
    assert "Packages.gz inflates past the" in message
    assert peak < 32 * MiB, f"peak {peak >> 20} MiB"


def test_index_base_packages_gz_bomb_names_the_limit(make_ipk, tmp_path: Path) -> None:
    name, data = make_ipk("kmod-a", mods=["nf_a"])
    (tmp_path / name).write_bytes(data)
    base = tmp_path / "base"
    base.mkdir()
    (base / "Packages.gz").write_bytes(gzip_bomb(100 * MiB))
    report = verify_paths([tmp_path / name], options=VerifyOptions(index=(str(base),)))
    [error] = report.input_errors
    assert error.artifact == str(base)
    assert "MAX_INDEX_FILE_BYTES limit (64 MiB)" in error.message


def test_kmodkit_temporaries_are_not_verified(make_ipk, tmp_path: Path) -> None:
    """A killed build leaves dist/x86/.64.kmodkit-<pid>-XXXX.tmp (fsutil): not verified."""
    ipk = make_ipk("kmod-a", mods=["nf_a"])
    dist = tmp_path / "dist"
    final = dist / "x86" / "64"
    with atomic_directory(final) as work:
        (work / ipk[0]).write_bytes(ipk[1])
        (work / "Packages").write_text("Package: kmod-a\n")
    with atomic_directory(final) as work:  # a second build, caught half-way
        (work / ipk[0]).write_bytes(ipk[1])
        (work / "Packages").write_text("Package: kmod-a\n")
        for earlier in (".64.old", ".64.ab12cd_3.tmp"):  # names of kmodkit before pids
            (final.parent / earlier).mkdir()
            (final.parent / earlier / ipk[0]).write_bytes(ipk[1])
        temporaries = sorted(p.name for p in final.parent.iterdir() if p != final)
        assert len(temporaries) == 3 and all(is_kmodkit_temporary(n) for n in temporaries)
        found = discover([dist])
        assert [f.path for f in found.feeds] == [final]
        assert found.packages == [] and found.unreadable == []
        # given explicitly (as the build verifies its own work directory), it is verified
        assert [f.path for f in discover([work]).feeds] == [work]
    assert not any(is_kmodkit_temporary(n) for n in ("64", ".hidden", ".x.tmp", "a.old"))


def test_one_result_lists_a_bounded_number_of_problems() -> None:
    findings = Findings()
    for i in range(150):
        findings.fail("modules.modinfo", "x.ipk", f"/lib/modules/{i}.ko is not ELF")
    [result] = findings.results()
    assert result.message.endswith("; and 50 more")
    assert result.message.count("is not ELF") == 100
