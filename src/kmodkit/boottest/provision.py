"""Install the host tools a boot test needs (QEMU, busybox-static, nftables, iproute2, socat).

Like the distro kernel provider: as root, ``apt-get install`` what is missing (refreshing the
package lists once when apt does not know a package); otherwise stop with the exact command.
Other helpers may run apt at the same time, so apt waits for the dpkg lock instead of failing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from kmodkit.errors import KernelTreeError

Progress = Callable[[str], None]
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]


def missing_packages(wanted: dict[str, str]) -> list[str]:
    """Debian packages (values) whose program (key: a path or a name on PATH) is absent."""
    missing = []
    for program, package in wanted.items():
        found = os.path.exists(program) if program.startswith("/") else shutil.which(program)
        if not found and package not in missing:
            missing.append(package)
    return missing


def ensure_packages(wanted: dict[str, str], progress: Progress | None = None) -> None:
    missing = missing_packages(wanted)
    if not missing:
        return
    command = f"apt-get install -y --no-install-recommends {' '.join(missing)}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise KernelTreeError(f"boot test tools missing; run as root: {command}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*APT, "install", "-y", "--no-install-recommends", *missing]
    for attempt in (1, 2):
        if progress:
            progress(f"provisioning: {command}")
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if result.returncode == 0:
            return
        if attempt == 1 and "Unable to locate package" in result.stderr + result.stdout:
            if progress:
                progress("provisioning: apt-get update")
            subprocess.run([*APT, "update"], capture_output=True, env=env, check=False)
            continue
        break
    tail = (result.stderr.strip().splitlines() or ["apt-get failed"])[-1]
    raise KernelTreeError(f"`{command}` failed: {tail}")
