from __future__ import annotations

import hashlib
import shutil
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from kmodkit.kernel.tree import parse_config
from kmodkit.kernel.vermagic import kernel_vermagic, openwrt_vermagic_hash

# Lines chosen to exercise what include/kernel-defaults.mk does: grep '=[ym]' matches anywhere
# (a string value containing "=y" counts), "is not set" comments and =n/numbers do not, and
# LC_ALL=C sort orders bytewise (upper case and "_" before lower case).
KNOWN_CONFIG = b"""#
# Automatically generated file; DO NOT EDIT.
CONFIG_NF_FLOW_TABLE=m
CONFIG_NETFILTER=y
# CONFIG_NFT_COMPAT is not set
CONFIG_CMDLINE="root=/dev/sda console=y"
CONFIG_LOG_BUF_SHIFT=17
CONFIG_a_lower=y
CONFIG_NF_TABLES=m
CONFIG_NF_TABLES_INET=y
CONFIG_FOO="plain"
"""

EXPECTED_LINES = [
    b'CONFIG_CMDLINE="root=/dev/sda console=y"',
    b"CONFIG_NETFILTER=y",
    b"CONFIG_NF_FLOW_TABLE=m",
    b"CONFIG_NF_TABLES=m",
    b"CONFIG_NF_TABLES_INET=y",
    b"CONFIG_a_lower=y",
]


def test_hash_is_md5_of_sorted_y_m_lines() -> None:
    expected = hashlib.md5(b"".join(line + b"\n" for line in EXPECTED_LINES)).hexdigest()
    assert openwrt_vermagic_hash(KNOWN_CONFIG) == expected


def test_hash_matches_the_shell_pipeline_openwrt_runs(tmp_path: object) -> None:
    assert shutil.which("md5sum")
    shell = subprocess.run(
        "grep '=[ym]' | LC_ALL=C sort | md5sum",
        shell=True,
        input=KNOWN_CONFIG,
        capture_output=True,
        check=True,
    )
    assert openwrt_vermagic_hash(KNOWN_CONFIG) == shell.stdout.split()[0].decode()


@settings(max_examples=100, deadline=None)
@given(st.permutations(KNOWN_CONFIG.splitlines()))
def test_hash_ignores_line_order(lines: list[bytes]) -> None:
    assert openwrt_vermagic_hash(b"\n".join(lines) + b"\n") == openwrt_vermagic_hash(KNOWN_CONFIG)


def test_hash_changes_when_a_module_setting_changes() -> None:
    changed = KNOWN_CONFIG.replace(b"CONFIG_NF_FLOW_TABLE=m", b"CONFIG_NF_FLOW_TABLE=y")
    assert openwrt_vermagic_hash(changed) != openwrt_vermagic_hash(KNOWN_CONFIG)


def test_kernel_vermagic_string() -> None:
    config = parse_config(
        "CONFIG_SMP=y\nCONFIG_PREEMPT_BUILD=y\nCONFIG_MODULE_UNLOAD=y\nCONFIG_MODVERSIONS=y\n"
    )
    assert kernel_vermagic("6.1.0-56-amd64", config) == (
        "6.1.0-56-amd64 SMP preempt mod_unload modversions"
    )
    assert kernel_vermagic("6.6.93", {"CONFIG_MODULE_UNLOAD": "y"}) == "6.6.93 mod_unload"


def test_parse_config_strips_quotes_and_reads_unset_as_n() -> None:
    config = parse_config(KNOWN_CONFIG.decode())
    assert config["CONFIG_FOO"] == "plain"
    assert config["CONFIG_NF_FLOW_TABLE"] == "m"
    assert config["CONFIG_NFT_COMPAT"] == "n"
