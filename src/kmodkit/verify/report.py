"""Renderings of a VerifyReport: a rich table, JSON, JUnit XML and GitHub annotations.

All are pure functions of the report (no printing, no clock), so the same report always gives
the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.table import Table
from rich.text import Text

from kmodkit.fsutil import atomic_write_text
from kmodkit.verify.model import CHECKS, Result, VerifyReport

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def render_table(
    report: VerifyReport, *, verbose: bool = False, title: str = "kmodkit verify"
) -> Table:
    """One table grouped by artifact: every failure and warning on its own row; passing
    checks of an artifact folded into one row unless ``verbose``."""
    table = Table(show_lines=False, expand=False, title=title)
    table.add_column("artifact", overflow="fold")
    table.add_column("check", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("message", overflow="fold")
    for artifact, results in report.by_artifact().items():
        shown = results if verbose else [r for r in results if r.status != "pass"]
        passed = [r for r in results if r.status == "pass"]
        first = True
        for r in shown:
            table.add_row(  # Text, never markup: a package may be named "[/evil]"
                Text(artifact if first else ""),
                Text(r.check_id),
                Text(_LABEL[r.status], style=_STYLE[r.status]),
                Text(r.message),
            )
            first = False
        if passed and not verbose:
            ids = ", ".join(r.check_id for r in passed)
            label = Text(_LABEL["pass"], style=_STYLE["pass"])
            table.add_row(
                Text(artifact if first else ""), f"{len(passed)} checks", label, Text(ids)
            )
        table.add_section()
    return table


def summary_lines(report: VerifyReport) -> list[str]:
    """Warnings on their own line, then exactly ``N passed, N failed``."""
    lines = []
    if report.warnings:
        lines.append(f"{report.warnings} warning{'' if report.warnings == 1 else 's'}")
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return lines


def to_json(report: VerifyReport, *, strict: bool = False) -> str:
    doc = {
        "ok": report.ok(strict),
        "strict": strict,
        "passed": report.passed,
        "failed": report.failed,
        "warnings": report.warnings,
        "notes": list(report.notes),
        "checks": [
            {
                "id": r.check_id,
                "artifact": r.artifact,
                "status": r.status,
                "message": r.message,
                "description": CHECKS.get(r.check_id, ""),
            }
            for r in report.results
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def write_json(report: VerifyReport, path: Path, *, strict: bool = False) -> None:
    atomic_write_text(path, to_json(report, strict=strict))


def write_junit(report: VerifyReport, path: Path, *, strict: bool = False) -> None:
    atomic_write_text(path, to_junit(report, strict=strict))


def to_junit(report: VerifyReport, *, strict: bool = False, title: str = "kmodkit verify") -> str:
    """One <testsuite> per artifact, one <testcase> per check; warnings fail under --strict."""
    suites = ET.Element("testsuites", name=title)
    total = failures = 0
    for artifact, results in report.by_artifact().items():
        suite = ET.SubElement(suites, "testsuite", name=artifact)
        n_fail = 0
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=artifact, name=r.check_id)
            if r.status == "fail" or (strict and r.status == "warn"):
                n_fail += 1
                ET.SubElement(case, "failure", message=r.message, type=r.check_id).text = r.message
            elif r.status == "warn":
                ET.SubElement(case, "system-out").text = f"warning: {r.message}"
        suite.set("tests", str(len(results)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        total += len(results)
        failures += n_fail
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def github_annotations(report: VerifyReport) -> list[str]:
    """``::error file=...::`` (and ``::warning``) workflow commands for GitHub Actions."""
    return [_annotation(r) for r in report.results if r.status != "pass"]


def _annotation(r: Result) -> str:
    kind = "error" if r.status == "fail" else "warning"
    file = _escape_property(r.artifact)
    title = _escape_property(r.check_id)
    return f"::{kind} file={file},title={title}::{_escape_data(r.message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
