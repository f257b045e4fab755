"""What the CLI prints off a terminal (CI logs): whole paths, honest counts, correct plurals."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.cli.verify import emit, reference_notes
from kmodkit.cli.verify import verify as verify_cli
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.model import Result, VerifyReport
from kmodkit.verify.report import summary_lines


def test_one_warning_is_singular() -> None:
    one = VerifyReport(results=[Result("feed.signature", "a", "warn", "m")])
    two = VerifyReport(results=[*one.results, Result("feed.signature", "b", "warn", "m")])
    assert summary_lines(one) == ["1 warning", "0 passed, 0 failed"]
    assert summary_lines(two)[0] == "2 warnings"


def test_long_paths_stay_whole_on_one_line_in_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path.joinpath(*[f"directory-{i:02d}-with-a-long-name" for i in range(12)])
    missing = deep / "kmod-nft-offload_6.1.176-r1_x86_64.ipk"
    assert len(str(missing)) > 400
    report = verify_paths([missing], options=VerifyOptions())
    emit(report, strict=False, json_out=None, junit_out=None)
    out = capsys.readouterr().out
    table_rows = [line for line in out.splitlines() if "input.unreadable" in line]
    assert len(table_rows) == 1 and str(missing) in table_rows[0]


def test_standalone_verify_says_which_checks_a_missing_reference_leaves_out(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = verify_cli(
        paths=[str(testdata / "apk/feed")], index=[], kernel_dir=None, sdk=None, release=None,
        target=None, keys=None, json_out=None, junit_out=None, strict=False, rebuild=False,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status in (0, 1)
    assert "note: no --kernel-dir/--sdk: modules are checked against each other" in out
    assert "note: no --release:" in out
    given = VerifyOptions(kernel_dir=Path("k"), release="24.10")
    assert reference_notes(given) == []
