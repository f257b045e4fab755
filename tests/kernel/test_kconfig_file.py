"""One .config reader for every consumer: kernel trees, fragments and the SDK's .config."""

from __future__ import annotations

from pathlib import Path

from kmodkit.kernel import kconfig_file, path, tree
from kmodkit.kernel.kconfig_file import config_value, parse_kconfig
from kmodkit.pipeline import sdk_make
from kmodkit.render import fragment

TRICKY = (
    "#\n# Automatically generated file; DO NOT EDIT.\n"
    "CONFIG_NF_FLOW_TABLE=m\n"
    "# CONFIG_NFT_COMPAT is not set\n"
    'CONFIG_TARGET_BOARD="x86"\n'
    'CONFIG_CMDLINE="root=/dev/sda \\"quiet\\" \\\\x"\n'
    "CONFIG_EMPTY=\n"
    "  CONFIG_INDENTED=y  \n"
    "# a comment mentioning CONFIG_FOO=y\n"
    "CONFIG_LATER=y\n"
    "CONFIG_LATER=m\n"
    "CONFIG_PACKAGE_kmod-nf-flow=m\n"
    "# CONFIG_PACKAGE_libstdcpp+x is not set\n"
)


def test_semantics() -> None:
    assert parse_kconfig(TRICKY) == {
        "CONFIG_NF_FLOW_TABLE": "m",
        "CONFIG_NFT_COMPAT": "n",
        "CONFIG_TARGET_BOARD": "x86",
        "CONFIG_CMDLINE": 'root=/dev/sda "quiet" \\x',
        "CONFIG_EMPTY": "",
        "CONFIG_INDENTED": "y",
        "CONFIG_LATER": "m",
        "CONFIG_PACKAGE_kmod-nf-flow": "m",
        "CONFIG_PACKAGE_libstdcpp+x": "n",
    }
    assert config_value('"a"') == "a" and config_value("0x10") == "0x10"
    assert config_value('"') == '"'  # not a quoted string: kept as written


def test_every_consumer_uses_the_one_reader() -> None:
    """The kernel tree, the fragment validator and sdk-make used to disagree on the same text
    ("is not set" dropped / mapped to n, quotes kept by one of them)."""
    assert tree.parse_config is parse_kconfig
    assert fragment.parse_config is parse_kconfig
    assert sdk_make.parse_kconfig is parse_kconfig
    assert path.parse_config is parse_kconfig
    assert kconfig_file.parse_kconfig(TRICKY)["CONFIG_NFT_COMPAT"] == "n"


def test_a_tree_reads_not_set_as_n(tmp_path: Path) -> None:
    build = tmp_path / "linux"
    (build / "include/config").mkdir(parents=True)
    (build / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL = 93\n")
    (build / ".config").write_text("CONFIG_X86=y\n# CONFIG_NF_FLOW_TABLE is not set\n")
    (build / "Module.symvers").write_text("")
    (build / "include/config/kernel.release").write_text("6.6.93\n")
    opened = path.open_path_tree(build)
    assert opened.config["CONFIG_NF_FLOW_TABLE"] == "n"
    assert opened.config_value("X86") == "y"
