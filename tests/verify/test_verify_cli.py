"""The CLI edge: exit statuses, summary lines, --json, --junit, GitHub annotations, --rebuild."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from kmodkit.cli.verify import verify


def call(paths: list[Path], **kw: Any) -> int:
    args: dict[str, Any] = {
        "paths": [str(p) for p in paths],
        "index": [],
        "kernel_dir": None,
        "sdk": None,
        "release": None,
        "target": None,
        "keys": None,
        "json_out": None,
        "junit_out": None,
        "strict": False,
        "rebuild": False,
    }
    args.update(kw)
    return verify(**args)


def test_good_package_exits_0_and_prints_summary(make_ipk, tmp_path: Path, capsys) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    (tmp_path / name).write_bytes(data)
    assert call([tmp_path / name], target="x86_64") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith(" passed, 0 failed")
    assert "warning" not in lines[-1]


def test_failure_exits_1_and_writes_json_and_junit(make_ipk, tmp_path: Path, capsys) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"], arch="mips_24kc")
    (tmp_path / name).write_bytes(data)
    js, xml = tmp_path / "out/report.json", tmp_path / "out/report.xml"
    status = call([tmp_path / name], target="x86_64", json_out=str(js), junit_out=str(xml))
    assert status == 1
    doc = json.loads(js.read_text())
    arch = [c for c in doc["checks"] if c["id"] == "meta.arch"]
    assert arch[0]["status"] == "fail" and doc["failed"] >= 1 and doc["ok"] is False
    assert {"id", "status", "message", "artifact"} <= set(arch[0])
    root = ET.parse(xml).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(doc["checks"])
    failing = [c.get("name") for c in cases if c.find("failure") is not None]
    assert "meta.arch" in failing
    out = capsys.readouterr().out
    assert "meta.arch" in out and "mips_24kc" in out


def test_warnings_line_is_separate_and_strict_fails(make_ipk, tmp_path: Path, capsys) -> None:
    name, data = make_ipk("kmod-nf-b", ["nf_b"])  # nf_a unknown: only a warning without kernel
    (tmp_path / name).write_bytes(data)
    assert call([tmp_path / name]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].endswith((" warning", " warnings")) and lines[-1].endswith(" passed, 0 failed")
    assert call([tmp_path / name], strict=True) == 1


def test_unreadable_input_exits_2_naming_it(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing-dir"
    assert call([missing]) == 2
    out = capsys.readouterr().out
    assert str(missing) in out and "no such file or directory" in out


def test_bad_kernel_dir_exits_2(make_ipk, tmp_path: Path, capsys) -> None:
    name, data = make_ipk("kmod-nf-a", ["nf_a"])
    (tmp_path / name).write_bytes(data)
    empty = tmp_path / "not-a-kernel"
    empty.mkdir()
    assert call([tmp_path / name], kernel_dir=str(empty)) == 2
    assert "kernel unusable" in capsys.readouterr().out


def test_github_annotations(make_ipk, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    name, data = make_ipk("kmod-nf-a", ["nf_a"], arch="mips_24kc")
    (tmp_path / name).write_bytes(data)
    call([tmp_path / name], target="x86_64")
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("::error ")]
    assert any("title=meta.arch" in line and name in line for line in lines)
