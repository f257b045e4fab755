from __future__ import annotations

from kmodkit.kernel.makefile import parse_kbuild_makefile

MAKEFILE = """\
# SPDX-License-Identifier: GPL-2.0
nf_conntrack-y := nf_conntrack_core.o nf_conntrack_proto.o \\
\t\t   nf_conntrack_expect.o
nf_conntrack-$(CONFIG_NF_CONNTRACK_LABELS) += nf_conntrack_labels.o
obj-$(CONFIG_NF_CONNTRACK) += nf_conntrack.o   # the core
nf_tables-objs := nf_tables_core.o nft_counter.o
obj-$(CONFIG_NF_TABLES) += nf_tables.o
obj-$(CONFIG_NF_FLOW_TABLE)\t+= nf_flow_table.o nf_flow_table_extra.o
obj-y += always_in.o
obj-m += always_mod.o
obj-$(CONFIG_IP_SET) += ipset/
"""

CONFIG = {"CONFIG_NF_CONNTRACK": "m", "CONFIG_NF_TABLES": "y", "CONFIG_NF_FLOW_TABLE": "m"}


def test_module_symbols_including_continuations_and_several_per_line() -> None:
    rules = parse_kbuild_makefile(MAKEFILE)
    assert rules.modules["nf_conntrack"] == "CONFIG_NF_CONNTRACK"
    assert rules.modules["nf_flow_table_extra"] == "CONFIG_NF_FLOW_TABLE"
    assert rules.modules["always_in"] == "y"
    assert "ipset" not in rules.modules and "ipset/" not in rules.modules
    assert rules.parts["nf_conntrack_expect"] == "nf_conntrack"
    assert rules.parts["nft_counter"] == "nf_tables"


def test_decisions_follow_config() -> None:
    rules = parse_kbuild_makefile(MAKEFILE)
    assert rules.decide("nf_conntrack", CONFIG)[0] == "module"
    assert rules.decide("nf_tables", CONFIG) == (
        "builtin",
        "built into the kernel (CONFIG_NF_TABLES=y)",
    )
    assert rules.decide("always_in", CONFIG)[0] == "builtin"
    assert rules.decide("always_mod", CONFIG)[0] == "module"
    assert rules.decide("nf_flow_table", {})[0] == "absent"
    decision, note = rules.decide("nft_counter", CONFIG)
    assert decision == "absent" and "part of nf_tables.ko" in note
    assert rules.decide("nosuch", CONFIG)[0] == "absent"
