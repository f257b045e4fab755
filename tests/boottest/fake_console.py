"""A STAND-IN for an OpenWrt serial console (no OpenWrt image can be had here).

It prints boot noise and procd's "Please press Enter to activate this console.", then acts as
a shell on a terminal: prompt, echo of the line typed, the command run by /bin/sh, its output.
``reboot`` prints the boot again (and asks for Enter again); ``poweroff`` exits. ``--silent``
never activates the console (a guest that hangs while booting). ``--only WORD,...`` runs only
command lines whose first word is listed; any other ends with status 127 (nothing of an
OpenWrt system, such as uci or opkg, is ever run on the host).
"""

from __future__ import annotations

import subprocess
import sys

PROMPT = "root@OpenWrt:~# "
ONLY = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--only=")), [])


def count(line: str) -> str:
    """The number of the driver's exit-status marker on ``line`` (``__KMK_""DONE_3__``)."""
    return line.split('__KMK_""DONE_', 1)[1].split("__", 1)[0]


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def boot() -> None:
    out("[    0.000000] Linux version 6.6.93 (builder@buildhost) #0 SMP\r\n")
    out("[    1.234567] init: Console is alive\r\n")
    out("Please press Enter to activate this console.\r\n")
    sys.stdin.readline()
    out("\r\nBusyBox v1.36.1 built-in shell (ash)\r\n\r\n")


def main() -> int:
    if "--silent" in sys.argv:
        out("[    0.000000] Linux version 6.6.93\r\n")
        sys.stdin.read()
        return 0
    boot()
    while True:
        out(PROMPT)
        line = sys.stdin.readline()
        if not line:
            return 0
        out(line.rstrip("\n") + "\r\n")  # the terminal's echo
        if line.startswith("sync; reboot"):
            out("[  100.000000] reboot: Restarting system\r\n")
            boot()
            continue
        if line.startswith("poweroff"):
            return 0
        if ONLY and line.split()[0] not in ONLY:
            out(f"-ash: {line.split()[0]}: not found\r\n__KMK_DONE_{count(line)}__ 127\r\n")
            continue
        done = subprocess.run(
            ["/bin/sh", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        out(done.stdout.replace("\n", "\r\n"))


if __name__ == "__main__":
    sys.exit(main())
