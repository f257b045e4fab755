from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.symvers import parse_symvers, read_symvers

SAMPLE = (
    "0x4c9d28b0\tphys_base\tvmlinux\tEXPORT_SYMBOL\t\n"
    "0x756b4ae3\tflow_offload_alloc\tnet/netfilter/nf_flow_table\tEXPORT_SYMBOL_GPL\t\n"
    "0x12345678\tns_sym\tdrivers/x\tEXPORT_SYMBOL_GPL\tSOME_NS\n"
)


def test_parse_symvers_fields() -> None:
    exports = parse_symvers(SAMPLE, "Module.symvers")
    assert exports["flow_offload_alloc"].module == "net/netfilter/nf_flow_table"
    assert exports["flow_offload_alloc"].export_type == "EXPORT_SYMBOL_GPL"
    assert exports["phys_base"].crc == "0x4c9d28b0"
    assert exports["ns_sym"].namespace == "SOME_NS"


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Module.symvers"
    path.write_text(SAMPLE + "garbage line\n")
    with pytest.raises(KernelTreeError, match=r"Module.symvers:4: malformed"):
        read_symvers(path)


def test_missing_file_is_a_kernel_tree_error(tmp_path: Path) -> None:
    with pytest.raises(KernelTreeError, match=r"cannot read Module\.symvers"):
        read_symvers(tmp_path / "nope")
