"""End to end under QEMU: the real distro feed boots in Debian's own kernel (one boot), and a
deliberately broken copy fails with the kernel's own words while a user ruleset still offloads
(a second boot)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from kmodkit.boottest import BootReport
from kmodkit.boottest.feed import modules_of, read_feed
from kmodkit.boottest.initramfs import read_newc
from kmodkit.boottest.kernel_image import KernelImage
from kmodkit.cli.verify import emit
from kmodkit.kernel.modinfo import read_modinfo
from kmodkit.verify.model import Result
from kmodkit.verify.report import to_json, to_junit

from .conftest import (
    FOREIGN_VERMAGIC,
    FW4_RULESET,
    PATCHED_MODULE,
    PATCHED_PACKAGE,
    REMOVED_PACKAGE,
)

pytestmark = [pytest.mark.kernel, pytest.mark.boot]


def _results(report: BootReport, check_id: str) -> list[Result]:
    return [r for r in report.report.results if r.check_id == check_id]


def test_every_module_of_every_package_loads(good_boot: BootReport, feed_dir: Path) -> None:
    feed = read_feed(feed_dir)
    results = _results(good_boot, "boot.modules")
    assert {r.artifact for r in results} == feed.names()
    assert [r for r in results if r.status != "pass"] == []
    loaded = {m for r in results if r.message.startswith("loaded ") for m in r.message.split()[1:]}
    assert loaded == set(modules_of(feed))
    assert len(loaded) >= 20


def test_the_feeds_own_kernel_booted(good_boot: BootReport, kernel_image: KernelImage) -> None:
    (kernel,) = _results(good_boot, "boot.kernel")
    assert kernel.status == "pass", kernel.message
    assert kernel_image.release in kernel.message
    (run,) = good_boot.runs
    assert run.release == kernel_image.release
    assert run.accel in ("kvm", "tcg") and run.accel.upper() in run.accel_note
    assert {"init", "modules", "net", "control", "offload", "end"} <= set(run.guest_times)
    identity = _results(good_boot, "boot.identity")
    assert identity and all(r.status == "pass" for r in identity)


def test_flows_are_offloaded_and_the_control_is_not(good_boot: BootReport) -> None:
    by_id = {r.check_id: r for r in _results(good_boot, "boot.offload")}
    offload = by_id["boot.offload"]
    assert offload.status == "pass", offload.message
    assert offload.message.count("[OFFLOAD]") >= 2  # the TCP and the UDP flow's conntrack lines
    assert "dport=5001" in offload.message and "dport=5002" in offload.message
    (control,) = _results(good_boot, "boot.control")
    assert control.status == "pass", control.message
    assert "TCP" in control.message and "UDP" in control.message
    (transfer,) = _results(good_boot, "boot.transfer")
    assert transfer.status == "pass", transfer.message
    assert transfer.message.count("bytes forwarded") == 4
    assert "offload TCP: 2,097,152 bytes" in transfer.message
    (ruleset,) = _results(good_boot, "boot.ruleset")
    assert ruleset.status == "pass" and "control" in ruleset.message


def test_reports_and_serial_log(
    good_boot: BootReport, broken_boot: BootReport, kmodkit_cache: Path, feed_dir: Path
) -> None:
    assert emit(good_boot.report, strict=True, json_out=None, junit_out=None) == 0
    doc = json.loads(to_json(good_boot.report))
    ids = {c["id"] for c in doc["checks"]}
    assert {"boot.kernel", "boot.modules", "boot.offload", "boot.control"} <= ids
    assert all(c["description"] for c in doc["checks"])
    assert 'name="kmodkit boottest"' in to_junit(good_boot.report, title="kmodkit boottest")
    (run,) = good_boot.runs
    assert run.serial_log is not None and run.serial_log.is_file()
    assert "@@KMK end" in run.serial and "[OFFLOAD]" in run.serial
    gate_report = kmodkit_cache / "logs" / Path(*feed_dir.parts[-3:]) / "boottest.json"
    assert json.loads(gate_report.read_text())["ok"] is True
    (broken,) = broken_boot.runs  # booted with --keep-logs
    assert broken.serial_log is not None and "@@KMK modules-done" in broken.serial_log.read_text()
    kept = broken.serial_log.parent
    assert (kept / "init").read_text().startswith("#!/bin/busybox sh")
    assert (kept / "initramfs.cpio.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_module_for_another_kernel_fails_with_the_kernels_message(
    broken_boot: BootReport, kernel_image: KernelImage
) -> None:
    failed = [
        r
        for r in _results(broken_boot, "boot.modules")
        if r.artifact == PATCHED_PACKAGE and r.status == "fail"
    ]
    assert len(failed) == 1, _results(broken_boot, "boot.modules")
    message = failed[0].message
    assert message.startswith(f"{PATCHED_MODULE} did not load")
    # the kernel's own words: "nft_masq: version magic '6.6.93 ...' should be '6.1.0-...'"
    assert f"version magic '{FOREIGN_VERMAGIC}" in message
    assert f"should be '{kernel_image.release} " in message
    identity = [
        r
        for r in _results(broken_boot, "boot.identity")
        if r.artifact == PATCHED_PACKAGE and r.status == "fail"
    ]
    assert identity and f"{PATCHED_MODULE}.ko vermagic" in identity[0].message
    assert emit(broken_boot.report, strict=False, json_out=None, junit_out=None) == 1


def test_missing_dependency_names_the_unresolved_symbol(
    broken_boot: BootReport, feed_dir: Path
) -> None:
    (install,) = _results(broken_boot, "boot.install")
    assert install.status == "fail" and f"depends on {REMOVED_PACKAGE}" in install.message
    (removed,) = (feed_dir / "ipk").glob(f"{REMOVED_PACKAGE}_*.ipk")
    exported: set[str] = set()
    for module in read_feed(feed_dir).packages:
        if module.file.name == removed.name:
            for entry in module.entries:
                if entry.path.endswith(".ko"):
                    exported |= read_modinfo(entry.data, entry.path).exported
    failures = [r for r in _results(broken_boot, "boot.modules") if r.status == "fail"]
    named = {s for r in failures for s in re.findall(r"Unknown symbol (\w+)", r.message)}
    assert named and named <= exported
    passing = {r.artifact for r in _results(broken_boot, "boot.modules") if r.status == "pass"}
    assert "kmod-nf-conntrack" in passing and "kmod-nf-flow" in passing


def test_user_ruleset_offloads_and_its_control_does_not(broken_boot: BootReport) -> None:
    (run,) = broken_boot.runs
    assert run.serial_log is not None
    nodes = {
        n.path: n
        for n in read_newc(
            gzip.decompress((run.serial_log.parent / "initramfs.cpio.gz").read_bytes())
        )
    }
    assert nodes["etc/kmodkit/ruleset.nft"].data.decode() == FW4_RULESET
    assert b"flow offload" not in nodes["etc/kmodkit/control.nft"].data
    for check in ("boot.ruleset", "boot.transfer", "boot.offload", "boot.control"):
        (result,) = _results(broken_boot, check)
        assert result.status == "pass", result.message
