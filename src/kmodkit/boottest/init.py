"""The generated ``/init``: load the feed's modules like kmodloader, then run the scenario.

Everything the host needs to know comes back on the serial console as lines starting with
``@@KMK`` (parsed by kmodkit.boottest.results); anything else on the console is the kernel's or
the tools' own output, kept in the serial log. After each failed ``insmod`` the kernel's own
messages (``dmesg``) are echoed, so the report can quote ``Unknown symbol ...`` or
``version magic ... should be ...``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from kmodkit.boottest.feed import LoadStep

MARK = "@@KMK"
BB = "/bin/busybox"

# The default scenario: the guest routes between two namespaces, lan (client) and wan (server).
DEFAULT_RULESET = """\
table inet kmodkit {
	flowtable ft {
		hook ingress priority 0
		devices = { lan, wan }
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto { tcp, udp } flow add @ft
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		oifname "wan" masquerade
	}
}
"""
_FLOW_STATEMENT = re.compile(r"\bflow\s+(add|offload)\s+@[\w.-]+")
# (phase, ruleset file, tcp port, udp port): the control runs first, without `flow add`.
# (phase, ruleset file, tcp port, udp port, TCP 64 KiB chunks per half, UDP rounds of 8 KiB):
# each run moves 2 MiB over TCP and echoes 256 KiB over UDP. The control runs first, without
# `flow add`.
PHASES = (
    ("control", "/etc/kmodkit/control.nft", 5011, 5012, 16, 32),
    ("offload", "/etc/kmodkit/ruleset.nft", 5001, 5002, 16, 32),
)


def control_ruleset(ruleset: str) -> str:
    """The same ruleset without its ``flow add``/``flow offload`` statements."""
    return _FLOW_STATEMENT.sub("", ruleset)


def has_flow_statement(ruleset: str) -> bool:
    return bool(_FLOW_STATEMENT.search(ruleset))


@dataclass(frozen=True)
class InitOptions:
    release: str
    steps: Sequence[LoadStep]
    kernel_modules: Sequence[tuple[str, str]]  # (name, guest path) from the kernel package
    scenario: bool = True


_BOOT = f"""\
#!{BB} sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
{BB} mount -t proc proc /proc
{BB} mount -t sysfs sysfs /sys
{BB} mount -t devtmpfs devtmpfs /dev 2>/dev/null
{BB} mkdir -p /run /tmp /var/run
{BB} --install -s /bin
{BB} mount -t tmpfs tmpfs /run
{BB} mount -t tmpfs tmpfs /tmp
"""

# The marker functions and the module loader, shared with the OpenWrt image's scenario script.
FUNCTIONS = f"""\
say() {{ echo "{MARK} $*"; }}
stamp() {{ say time "$1" "$(cut -d ' ' -f 1 /proc/uptime)"; }}
say start
stamp init
say osrelease "$(cat /proc/sys/kernel/osrelease)"
dmesg -n 1
dmesg -c >/dev/null
"""

LOAD = """\
load() {
	dmesg -c >/dev/null
	if insmod "$3" $4 2>/tmp/insmod.err; then
		say mod-ok "$1" "$2"
	else
		say mod-fail "$1" "$2" "$(tr '\\n' ' ' </tmp/insmod.err)"
		dmesg | while read -r line; do say kmsg "$2" "$line"; done
	fi
}
"""

_SCENARIO = f"""\
IP=/sbin/ip
NFT=/usr/sbin/nft
SOCAT=/usr/bin/socat
net() {{
	$IP netns add client && $IP netns add server || return 1
	$IP link add lan type veth peer name eth0 netns client || return 1
	$IP link add wan type veth peer name eth0 netns server || return 1
	$IP addr add 10.0.1.1/24 dev lan && $IP link set lan up || return 1
	$IP addr add 10.0.2.1/24 dev wan && $IP link set wan up || return 1
	$IP -n client addr add 10.0.1.2/24 dev eth0 && $IP -n client link set eth0 up || return 1
	$IP -n server addr add 10.0.2.2/24 dev eth0 && $IP -n server link set eth0 up || return 1
	$IP -n client link set lo up && $IP -n server link set lo up || return 1
	$IP -n client route add default via 10.0.1.1 || return 1
	$IP -n server route add default via 10.0.2.1 || return 1  # rulesets without masquerade
	echo 1 > /proc/sys/net/ipv4/ip_forward
}}
listening() {{
	# Wait until the server namespace has a $1 (tcp/udp) socket bound to port $2.
	hex=$(printf ':%04X ' "$2"); n=0
	while [ $n -lt 200 ]; do
		$IP netns exec server {BB} grep -q "$hex" /proc/net/$1 && return 0
		usleep 50000; n=$((n + 1))
	done
	return 1
}}
num() {{ v=$(tr -dc 0-9 <"$1" 2>/dev/null); echo "${{v:-0}}"; }}
watch() {{
	# Sample conntrack until the sender is done (it touches /tmp/done.<port>: a finished
	# child stays a zombie until `wait`, so kill -0 cannot tell) or the flow is [OFFLOAD].
	# Shell builtins only (read, case, test): forks cost dearly in an emulated guest.
	seen=""; last=""; n=0
	while [ $n -lt 100 ]; do
		line=""
		while read -r entry; do
			case "$entry" in *" dport=$1 "*) line=$entry; break;; esac
		done </proc/net/nf_conntrack
		[ -n "$line" ] && last=$line
		case "$line" in *OFFLOAD*) seen=yes; break;; esac
		[ -e /tmp/done.$1 ] && break
		usleep 200000; n=$((n + 1))
	done
	echo "${{seen:-no}} $last"
}}
tcp_send() {{
	dd if=/dev/zero bs=65536 count=$1 2>/dev/null; sleep 1
	dd if=/dev/zero bs=65536 count=$1 2>/dev/null
}}
udp_send() {{
	i=0
	while [ $i -lt $1 ]; do
		dd if=/dev/zero bs=1024 count=8 2>/dev/null; usleep 20000; i=$((i + 1))
	done
}}
phase() {{
	name=$1; rules=$2; tport=$3; uport=$4; chunks=$5; rounds=$6
	$NFT flush ruleset
	if $NFT -f "$rules" 2>/tmp/nft.err; then say ruleset-ok "$name"
	else say ruleset-fail "$name" "$(tr '\\n' ' ' </tmp/nft.err)"; return; fi
	$IP netns exec server $SOCAT -u TCP-LISTEN:$tport,reuseaddr - | wc -c >/tmp/tcp.$tport &
	server=$!
	listening tcp $tport
	(
		tcp_send $chunks | $IP netns exec client \\
			$SOCAT -u - TCP:10.0.2.2:$tport,retry=300,interval=0.1
		touch /tmp/done.$tport
	) &
	client=$!
	result=$(watch $tport $client)
	wait $client; wait $server
	say flow "$name" tcp $((2 * chunks * 65536)) "$(num /tmp/tcp.$tport)" $result
	stamp "$name-tcp"
	$IP netns exec server $SOCAT -T 3 -b 1024 UDP-LISTEN:$uport PIPE &
	server=$!
	listening udp $uport
	(
		udp_send $rounds | $IP netns exec client $SOCAT -b 1024 -t 2 - UDP:10.0.2.2:$uport \\
			| wc -c >/tmp/udp.$uport
		touch /tmp/done.$uport
	) &
	client=$!
	result=$(watch $uport $client)
	wait $client; kill $server 2>/dev/null; wait $server
	say flow "$name" udp $((rounds * 8 * 1024)) "$(num /tmp/udp.$uport)" $result
	stamp "$name"
}}
if net; then say net-ok; stamp net; else say net-fail "$($IP -br link 2>&1 | tr '\\n' ' ')"; fi
"""

_END = f"""\
stamp end
say end
{BB} sync
{BB} poweroff -f
"""


def render_init(options: InitOptions) -> str:
    return _BOOT + FUNCTIONS + LOAD + script_body(options) + _END


def script_body(options: InitOptions) -> str:
    """Load the modules in plan order, then (with ``scenario``) the namespaces and flows."""
    q = shlex.quote
    lines = []
    for step in options.steps:
        path = "/" + step.path
        lines.append(f"load {q(step.package)} {q(step.module)} {q(path)} {q(step.params)}\n")
    lines.append("say modules-done\nstamp modules\n")
    if options.scenario:
        for name, path in options.kernel_modules:
            lines.append(f"load kernel {q(name)} {q(path)} ''\n")
        lines.append(_SCENARIO)
        for name, rules, tport, uport, chunks, rounds in PHASES:
            lines.append(f"phase {name} {rules} {tport} {uport} {chunks} {rounds}\n")
        lines.append("say conntrack-begin\ncat /proc/net/nf_conntrack\nsay conntrack-end\n")
    return "".join(lines)
