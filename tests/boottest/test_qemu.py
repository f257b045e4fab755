"""A guest that never finishes is killed at the timeout, and no qemu process survives it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodkit.boottest import qemu
from kmodkit.boottest.initramfs import Initramfs, build_initramfs
from kmodkit.boottest.kernel_image import KernelImage
from kmodkit.boottest.results import parse_serial
from kmodkit.boottest.runner import kernel_findings
from kmodkit.boottest.userland import host_tool
from kmodkit.verify.model import Findings

pytestmark = [pytest.mark.kernel, pytest.mark.boot]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_hung_guest_is_killed_at_the_timeout(kernel_image: KernelImage, tmp_path: Path) -> None:
    image = Initramfs()
    image.file("bin/busybox", host_tool("busybox").read_bytes(), 0o755)
    image.chardev("dev/console", 5, 1)
    hang = b"#!/bin/busybox sh\necho '@@KMK start'\nwhile :; do /bin/busybox sleep 1; done\n"
    image.file("init", hang, 0o755)
    initrd = tmp_path / "hang.cpio.gz"
    initrd.write_bytes(build_initramfs(image))
    log = tmp_path / "hung-guest-serial.log"
    run = qemu.boot("x86_64", kernel_image.image, initrd, log, timeout=5, accel="tcg")
    assert run.timed_out and run.exit_status is None
    assert _processes_mentioning(str(log)) == []
    findings = Findings()
    kernel_findings(parse_serial(run.serial()), run, kernel_image, "x86/64", 5, findings)
    (result,) = findings.results()
    assert result.status == "fail"
    assert result.message.startswith("guest killed at --timeout 5 s (tcg)")


def test_qemu_command_boots_kernel_and_initrd_on_the_serial_console(tmp_path: Path) -> None:
    machine = qemu.MACHINES["aarch64"]
    command = qemu.qemu_command(
        machine, "tcg", tmp_path / "Image", tmp_path / "i.gz", tmp_path / "s.log"
    )
    assert command[0] == "qemu-system-aarch64" and command[1:3] == ["-M", "virt"]
    assert command[command.index("-cpu") + 1] == "max"
    assert "console=ttyAMA0" in command[command.index("-append") + 1]
    assert f"file:{tmp_path / 's.log'}" in command and "-no-reboot" in command
    assert os.path.basename(command[command.index("-kernel") + 1]) == "Image"
