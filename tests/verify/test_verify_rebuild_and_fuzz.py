"""compare_trees, report renderings, and fuzzing: no input makes verify crash."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodkit.verify import VerifyOptions, compare_trees, verify_paths
from kmodkit.verify.checks_ipk import check_ipk
from kmodkit.verify.model import Findings, Result, VerifyReport
from kmodkit.verify.report import github_annotations, summary_lines, to_junit


def test_compare_trees_reports_every_kind_of_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "feed").mkdir(parents=True)
        (root / "feed/same.ipk").write_bytes(b"same")
    (a / "feed/changed.ipk").write_bytes(b"one")
    (b / "feed/changed.ipk").write_bytes(b"two!")
    (a / "only-a").write_text("x")
    (b / "only-b").write_text("y")
    os.symlink("same.ipk", a / "feed/link")
    os.symlink("changed.ipk", b / "feed/link")
    diffs = {d.path: d for d in compare_trees(a, b)}
    assert set(diffs) == {"feed/changed.ipk", "only-a", "only-b", "feed/link"}
    assert diffs["feed/changed.ipk"].kind == "content"
    assert "first difference at byte 0" in diffs["feed/changed.ipk"].detail
    assert diffs["only-a"].kind == "only-in-a" and diffs["only-b"].kind == "only-in-b"
    assert diffs["feed/link"].kind == "symlink"
    assert compare_trees(a, a) == []


def test_findings_merge_worst_status_per_artifact_and_check() -> None:
    f = Findings()
    f.ok("feed.sha256", "Packages", "3 entries")
    f.fail("feed.sha256", "Packages", "x.ipk: bad")
    f.fail("feed.sha256", "Packages", "y.ipk: bad")
    f.warn("feed.signature", "Packages", "no key")
    results = f.results()
    assert results == [
        Result("feed.sha256", "Packages", "fail", "x.ipk: bad; y.ipk: bad"),
        Result("feed.signature", "Packages", "warn", "no key"),
    ]
    report = VerifyReport(results)
    assert (report.passed, report.failed, report.warnings) == (0, 1, 1)
    assert summary_lines(report) == ["1 warning", "0 passed, 1 failed"]


def test_junit_strict_turns_warnings_into_failures_and_annotations_escape() -> None:
    report = VerifyReport([Result("feed.signature", "a,b:c", "warn", "50% sure\nreally")])
    assert "<failure" not in to_junit(report)
    assert "<failure" in to_junit(report, strict=True)
    assert github_annotations(report) == [
        "::warning file=a%2Cb%3Ac,title=feed.signature::50%25 sure%0Areally"
    ]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_ipks_never_crash(make_ipk, data: st.DataObject) -> None:
    _, good = make_ipk("kmod-nf-a", ["nf_a"])
    cut = data.draw(st.integers(0, len(good)))
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=4)
    )
    blob = bytearray(good[:cut] if data.draw(st.booleans()) else good)
    for pos, value in flips:
        if pos < len(blob):
            blob[pos] = value
    findings = Findings()
    check_ipk(bytes(blob), "fuzz.ipk", findings)  # must not raise
    for r in findings.results():
        assert r.message


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=600), suffix=st.sampled_from([".ipk", ".apk"]))
def test_random_files_never_crash_verify(tmp_path_factory, blob: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"x_1_all{suffix}"
    path.write_bytes(blob)
    report = verify_paths([path], options=VerifyOptions())
    assert report.failed >= 1 and report.input_errors == []
