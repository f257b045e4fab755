"""What an official OpenWrt image is told to do: pure functions, no guest, no network.

The guest reaches the host's 127.0.0.1 as 10.0.2.2 (QEMU user networking). The host serves one
directory there (``served_files``): the feed's index directory, its public keys, the scenario
script and the two rulesets. The guest's own package manager installs the feed from it:
opkg (``/etc/opkg/customfeeds.conf`` + ``/etc/opkg/keys/<key id>``) or apk
(``/etc/apk/repositories.d/kmodkit.list`` + ``/etc/apk/keys/<name>.pem``). The scenario is
kmodkit.boottest.init's own (same markers, same phases), so results.parse_serial reads it.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from kmodkit.boottest import init as guest_init
from kmodkit.boottest.feed import Feed, load_plan
from kmodkit.errors import UsageError

HOST = "10.0.2.2"  # QEMU user networking: the host's loopback, seen from the guest
# From the image's official feeds: the scenario's userland and the veth kernel module.
TOOLS = ("ip-full", "socat", "kmod-veth")
SCRIPT = "kmodkit/scenario.sh"
NET_WAIT_SECONDS = 60

NETWORK_UP = (
    "uci set network.lan.proto=dhcp && uci -q delete network.lan.ipaddr; "
    "uci -q delete network.lan.netmask; uci commit network && /etc/init.d/network restart",
    f"i=0; while [ $i -lt {NET_WAIT_SECONDS} ] && ! ip route | grep -q '^default'; "
    "do sleep 1; i=$((i + 1)); done; ip route | grep '^default'",
)


@dataclass(frozen=True)
class FeedKeys:
    """The feed's public keys as shipped beside it (``keys/<usign id>``, ``keys/<name>.pem``)."""

    usign: dict[str, bytes]  # key id (16 hex) -> public key file
    apk: dict[str, bytes]  # file name (x.pem) -> PEM


def read_keys(feed: Feed) -> FeedKeys:
    """``keys/`` of the feed's target directory (or the nearest parent that has one)."""
    for directory in (feed.root, *feed.root.parents):
        keys = directory / "keys"
        if keys.is_dir():
            usign = {p.name: p.read_bytes() for p in sorted(keys.iterdir()) if _is_key_id(p.name)}
            apk = {p.name: p.read_bytes() for p in sorted(keys.glob("*.pem"))}
            return FeedKeys(usign, apk)
    raise UsageError(f"{feed.root}: no keys/ directory with the feed's public keys beside it")


def _is_key_id(name: str) -> bool:
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def index_dir(feed: Feed) -> Path:
    """The directory holding ``Packages`` (ipk) or ``packages.adb`` (apk)."""
    sub = feed.root / feed.kind
    return sub if sub.is_dir() else feed.root


def served_files(feed: Feed, keys: FeedKeys, script: str, ruleset: str) -> dict[str, bytes]:
    """Relative URL path -> bytes, everything the guest fetches from the host."""
    files: dict[str, bytes] = {}
    for path in sorted(index_dir(feed).iterdir()):
        if path.is_file():
            files[f"feed/{path.name}"] = path.read_bytes()
    for key_id, data in keys.usign.items():
        files[f"keys/{key_id}"] = data
    for name, data in keys.apk.items():
        files[f"keys/{name}"] = data
    files[SCRIPT] = script.encode()
    files["kmodkit/ruleset.nft"] = ruleset.encode()
    files["kmodkit/control.nft"] = guest_init.control_ruleset(ruleset).encode()
    return files


def tool_commands(kind: str) -> list[str]:
    """Install the scenario's userland from the image's own official feeds (needs internet)."""
    tools = " ".join(TOOLS)
    if kind == "ipk":
        return [f"opkg update && opkg install {tools}"]
    return [f"apk update && apk add {tools}"]


def feed_commands(kind: str, base_url: str, keys: FeedKeys, packages: list[str]) -> list[str]:
    """Trust the feed's key, make it the only feed, install every package of it.

    The official feeds are switched off first: the image ships kmod-nft-offload itself, and
    the package manager must take the feed's build, not a same-named official one.
    """
    q = shlex.quote
    names = " ".join(q(p) for p in sorted(packages))
    if kind == "ipk":
        if not keys.usign:
            raise UsageError("the feed has no usign public key (keys/<key id>) for opkg")
        commands = ["mkdir -p /etc/opkg/keys"]
        commands += [
            f"wget -q -O /etc/opkg/keys/{key_id} {q(f'{base_url}/keys/{key_id}')}"
            for key_id in sorted(keys.usign)
        ]
        commands += [
            "mv /etc/opkg/distfeeds.conf /etc/opkg/distfeeds.conf.off",
            f"echo {q(f'src/gz kmodkit {base_url}/feed')} > /etc/opkg/customfeeds.conf",
            "opkg update",
            f"opkg install --force-reinstall --force-downgrade {names}",
        ]
        return commands
    if not keys.apk:
        raise UsageError("the feed has no apk public key (keys/<name>.pem) for apk")
    commands = ["mkdir -p /etc/apk/keys /etc/apk/repositories.d"]
    commands += [
        f"wget -q -O /etc/apk/keys/{q(name)} {q(f'{base_url}/keys/{name}')}"
        for name in sorted(keys.apk)
    ]
    commands += [
        'for f in /etc/apk/repositories.d/*.list; do mv "$f" "$f.off"; done',
        f"echo {q(f'{base_url}/feed/packages.adb')} > /etc/apk/repositories.d/kmodkit.list",
        "apk update",
        f"apk add {names} && apk fix --reinstall {names}",
    ]
    return commands


def scenario_commands(base_url: str) -> list[str]:
    """Fetch the rulesets and the scenario script (after the reboot), then run it."""
    q = shlex.quote
    return [
        "mkdir -p /etc/kmodkit",
        f"wget -q -O /etc/kmodkit/ruleset.nft {q(base_url + '/kmodkit/ruleset.nft')}",
        f"wget -q -O /etc/kmodkit/control.nft {q(base_url + '/kmodkit/control.nft')}",
        f"wget -q -O /tmp/kmodkit.sh {q(base_url + '/' + SCRIPT)}",
    ]


RUN_SCENARIO = "sh /tmp/kmodkit.sh"

# Modules kmodloader already loaded at boot are reported loaded; the others are insmod'ed.
_LOADED_FIRST = """\
load() {
	if [ -d "/sys/module/$2" ]; then say mod-ok "$1" "$2"; else load_now "$@"; fi
}
"""


def scenario_script(feed: Feed, release: str) -> str:
    """The Debian path's module loading and scenario, for a running OpenWrt system."""
    plan, _unknown = load_plan(feed)
    options = guest_init.InitOptions(
        release, plan, [("veth", f"/lib/modules/{release}/veth.ko")], scenario=True
    )
    return (
        "#!/bin/sh\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\nmkdir -p /tmp\n"
        + guest_init.FUNCTIONS
        + guest_init.LOAD.replace("load() {", "load_now() {", 1)
        + _LOADED_FIRST
        + guest_init.script_body(options)
        + "say end\n"
    )


def installed_check(feed: Feed) -> tuple[str, dict[str, str]]:
    """A ``sha256sum`` command over every .ko of the feed, and the sums it must print."""
    wanted = {
        "/" + e.path: hashlib.sha256(e.data).hexdigest()
        for p in feed.packages
        for e in p.entries
        if e.kind == "file" and e.path.endswith(".ko")
    }
    return "sha256sum " + " ".join(shlex.quote(p) for p in sorted(wanted)), wanted


def installed_mismatches(output: str, wanted: dict[str, str]) -> list[str]:
    """Files whose sha256 in the guest is not the feed's (or that are missing)."""
    got: dict[str, str] = {}
    for line in output.splitlines():
        digest, _, path = line.strip().partition("  ")
        if len(digest) == 64 and path:
            got[path] = digest
    return [
        f"{path}: {'missing' if path not in got else 'not the feed build'}"
        for path, digest in sorted(wanted.items())
        if got.get(path) != digest
    ]
