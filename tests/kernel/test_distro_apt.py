"""Provisioning waits for another apt instead of failing on the dpkg lock.

The real test holds the real dpkg frontend lock from another process for a few seconds while
kmodkit runs apt-get: it needs root and apt (both present on the Debian 12 machines kmodkit
provisions; elsewhere provisioning itself cannot run and the test says so). The package
installed is one already installed, pinned to its installed version, so nothing changes and
nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from kmodkit.kernel.distro import (
    APT_LOCK_TIMEOUT,
    DPKG_FRONTEND_LOCK,
    apt_get,
    dpkg_lock_busy,
    provision,
)

HOLD_SECONDS = 4
_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""

needs_apt = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None or not DPKG_FRONTEND_LOCK.exists(),
    reason="needs root and apt-get (Debian), like provisioning itself",
)


def test_apt_get_waits_for_the_lock() -> None:
    command = apt_get(["install", "-y", "x"])
    assert command[:3] == ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}"]
    assert command[3:] == ["install", "-y", "x"]


def _hold_lock(seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(DPKG_FRONTEND_LOCK), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


@needs_apt
def test_provision_waits_for_a_running_apt_with_a_message() -> None:
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "make"], capture_output=True, text=True
    ).stdout.strip()
    assert version, "make is installed on the build machine"
    said: list[str] = []
    holder = _hold_lock(HOLD_SECONDS)
    try:
        assert dpkg_lock_busy()
        provision([f"make={version}"], said.append)  # used to fail: "Could not get lock"
    finally:
        holder.kill()
        holder.wait()
    assert any("waiting for it" in m and "dpkg lock" in m for m in said), said
    assert not dpkg_lock_busy()
