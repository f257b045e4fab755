"""Makefiles, Config.in, kernel fragment, .config seed and the generated feed."""

from __future__ import annotations

import re
from pathlib import Path

import kconfiglib
import pytest

from kmodkit.catalog import Catalog, load_catalog, lookup_release, lookup_target
from kmodkit.render import (
    render_config_in,
    render_config_seed,
    render_kernel_fragment,
    render_makefile,
    render_modules_d,
)
from kmodkit.render.configin import declarations
from kmodkit.render.fragment import parse_config
from kmodkit.resolve import Closure, resolve_closure
from kmodkit.resources import feeds_dir

X86 = lookup_target("x86_64")
REPO = Path(__file__).resolve().parents[2]

FACTS_ENTRY = (
    "\tconfig PACKAGE_kmod-nft-offload\n"
    '\t\ttristate "kmod-nft-offload......... Netfilter nf_tables routing/NAT offload support"\n'
    "\t\tdefault y if DEFAULT_kmod-nft-offload\n"
    "\t\tdefault m if ALL||ALL_NONSHARED||ALL_KMODS\n"
    "\t\tdepends on IPV6\n"
    "\t\tselect PACKAGE_kmod-nf-flow\n"
    "\t\tselect PACKAGE_kmod-nft-nat\n"
    "\t\thelp\n"
    "\t\t Netfilter nf_tables routing/NAT offload support\n"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def closure_for(catalog: Catalog, release: str) -> Closure:
    rel = lookup_release(release)
    return resolve_closure(catalog, "kmod-nft-offload", release=rel, target=X86)


def kernel_package_vars(makefile: str, short: str) -> dict[str, str]:
    """NAME:=value pairs of ``define KernelPackage/<short>``, continuation lines joined."""
    body = makefile.split(f"define KernelPackage/{short}\n", 1)[1].split("\nendef", 1)[0]
    joined = re.sub(r"\s*\\\n\s*", " ", body)
    return dict(
        (m.group(1), m.group(2).strip())
        for m in re.finditer(r"^\s*([A-Z]+):=(.*)$", joined, re.MULTILINE)
    )


def test_buildroot_makefile_for_24_10(catalog: Catalog) -> None:
    closure = closure_for(catalog, "24.10")
    text = render_makefile(
        closure.get("nft-offload"), flavour="buildroot", release=closure.release, target=X86
    )
    values = kernel_package_vars(text, "nft-offload")
    assert values["DEPENDS"] == "@IPV6 +kmod-nf-flow +kmod-nft-nat"
    assert values["KCONFIG"] == "CONFIG_NF_FLOW_TABLE_INET CONFIG_NFT_FLOW_OFFLOAD"
    assert values["FILES"] == (
        "$(LINUX_DIR)/net/netfilter/nf_flow_table_inet.ko "
        "$(LINUX_DIR)/net/netfilter/nft_flow_offload.ko"
    )
    assert values["AUTOLOAD"] == "$(call AutoProbe,nf_flow_table_inet nft_flow_offload)"
    assert values["SUBMENU"] == "Netfilter Extensions"
    assert "$(eval $(call KernelPackage,nft-offload))" in text
    assert "$(INSTALL_DATA) ./files/flowtable.nft $(1)/usr/share/doc/kmod-nft-offload/" in text


def test_23_05_makefile_has_per_family_flow_tables(catalog: Catalog) -> None:
    closure = closure_for(catalog, "23.05")
    text = render_makefile(
        closure.get("nft-offload"), flavour="buildroot", release=closure.release, target=X86
    )
    values = kernel_package_vars(text, "nft-offload")
    assert "$(LINUX_DIR)/net/ipv4/netfilter/nf_flow_table_ipv4.ko" in values["FILES"]
    assert "$(LINUX_DIR)/net/ipv6/netfilter/nf_flow_table_ipv6.ko" in values["FILES"]
    assert "CONFIG_NF_FLOW_TABLE_IPV4" in values["KCONFIG"].split()


def test_optional_files_are_conditional_and_loads_have_priority(catalog: Catalog) -> None:
    closure = closure_for(catalog, "24.10")
    core = kernel_package_vars(
        render_makefile(
            closure.get("nft-core"), flavour="buildroot", release=closure.release, target=X86
        ),
        "nft-core",
    )
    assert (
        "$(if $(filter m,$(CONFIG_NFT_COUNTER)),$(LINUX_DIR)/net/netfilter/nft_counter.ko)"
        in (core["FILES"])
    )
    assert core["DEPENDS"].split()[2] == "+IPV6:kmod-nf-reject6"
    crc = kernel_package_vars(
        render_makefile(
            closure.get("crypto-crc32c"), flavour="buildroot", release=closure.release, target=X86
        ),
        "crypto-crc32c",
    )
    assert crc["AUTOLOAD"] == "$(call AutoLoad,04,crc32c_generic,1)"
    assert "HIDDEN" not in crc  # no HIDDEN in OpenWrt's crypto.mk (v24.10.7 line 154)


def test_out_of_tree_makefile_builds_with_kbuild(catalog: Catalog) -> None:
    closure = closure_for(catalog, "23.05")
    text = render_makefile(
        closure.get("nft-offload"), flavour="out-of-tree", release=closure.release, target=X86
    )
    values = kernel_package_vars(text, "nft-offload")
    assert values["FILES"].split()[0] == "$(PKG_BUILD_DIR)/net/netfilter/nf_flow_table_inet.ko"
    assert '+$(KERNEL_MAKE) M="$(PKG_BUILD_DIR)/net/ipv4/netfilter"' in text
    assert "Makefile.kernel" in text


def test_config_in_entry_equals_the_facts(catalog: Catalog) -> None:
    text = render_config_in(closure_for(catalog, "24.10"))
    entries = text.split("\n\n")
    entry = next(e for e in entries if "config PACKAGE_kmod-nft-offload\n" in e)
    assert entry + "\n" == FACTS_ENTRY
    assert text.startswith('menu "Kernel modules"\n\n')
    assert text.rstrip().endswith("endmenu")


def _parse(tmp_path: Path, config_in: str) -> kconfiglib.Kconfig:
    base = (REPO / "kconfig" / "openwrt.Kconfig").read_text(encoding="utf-8")
    top = tmp_path / "Config.top"
    top.write_text(base + declarations(config_in, base) + config_in, encoding="utf-8")
    kconf = kconfiglib.Kconfig(str(top), warn=True, warn_to_stderr=False)
    assert not [w for w in kconf.warnings if "undefined" in w], kconf.warnings
    return kconf


@pytest.mark.parametrize("release", ["21.02", "22.03", "23.05", "24.10", "25.12", "snapshot"])
def test_every_config_in_parses_with_kconfiglib(
    catalog: Catalog, tmp_path: Path, release: str
) -> None:
    closure = closure_for(catalog, release)
    kconf = _parse(tmp_path, render_config_in(closure))
    for package in closure.packages:
        sym = kconf.syms[f"PACKAGE_{package.name}"]
        assert sym.type == kconfiglib.TRISTATE
        selected = {s.name for s, _cond in sym.selects}
        wanted = {
            f"PACKAGE_{d.lstrip('+').split(':')[-1]}"
            for d in package.depends_spec
            if d.startswith("+") and "@" not in d
        }
        assert selected == wanted, package.name
    offload = kconf.syms["PACKAGE_kmod-nft-offload"]
    assert kconfiglib.expr_str(offload.direct_dep) == "IPV6"


def test_config_in_select_conditions_and_behaviour(catalog: Catalog, tmp_path: Path) -> None:
    kconf = _parse(tmp_path, render_config_in(closure_for(catalog, "snapshot")))
    core = kconf.syms["PACKAGE_kmod-nft-core"]
    conds = {s.name: kconfiglib.expr_str(c) for s, c in core.selects}
    assert conds["PACKAGE_kmod-lib-crc32c"] == "LINUX_6_12"
    assert conds["PACKAGE_kmod-nf-reject6"] == "IPV6"
    assert conds["PACKAGE_kmod-nfnetlink"] == "y"
    # selecting the root as a module pulls the chain in, like menuconfig would
    kconf.syms["IPV6"].set_value("y")
    kconf.syms["PACKAGE_kmod-nft-offload"].set_value("m")
    assert kconf.syms["PACKAGE_kmod-nf-conntrack"].str_value == "m"
    assert kconf.syms["PACKAGE_kmod-lib-crc32c"].str_value == "n"
    kconf.syms["IPV6"].set_value("n")
    assert kconf.syms["PACKAGE_kmod-nft-offload"].str_value == "n"


def test_hidden_packages_have_no_prompt(catalog: Catalog, tmp_path: Path) -> None:
    text = render_config_in(closure_for(catalog, "24.10"))
    assert '\tconfig PACKAGE_kmod-crypto-hash\n\t\ttristate "kmod-crypto-hash.' in text
    feed = tmp_path / "feed"
    feed.mkdir()
    spec = (feeds_dir() / "base/crypto-hash.toml").read_text(encoding="utf-8")
    (feed / "crypto-hash.toml").write_text("hidden = true\n" + spec, encoding="utf-8")
    hidden = render_config_in(closure_for(load_catalog([feed]), "24.10"))
    assert "\tconfig PACKAGE_kmod-crypto-hash\n\t\ttristate \n\t\tdefault y if" in hidden
    kconf = _parse(tmp_path, hidden)
    assert not kconf.syms["PACKAGE_kmod-crypto-hash"].nodes[0].prompt
    assert kconf.syms["PACKAGE_kmod-crypto-crc32c"].nodes[0].prompt


def test_kernel_fragment_for_24_10_offload(catalog: Catalog) -> None:
    values = parse_config(render_kernel_fragment(closure_for(catalog, "24.10")))
    for symbol, value in {
        "CONFIG_NETFILTER_INGRESS": "y",
        "CONFIG_NF_FLOW_TABLE": "m",
        "CONFIG_NF_FLOW_TABLE_HW": "m",
        "CONFIG_NF_FLOW_TABLE_INET": "m",
        "CONFIG_NFT_FLOW_OFFLOAD": "m",
        "CONFIG_NFT_COMPAT": "n",
    }.items():
        assert values[symbol] == value
    assert "CONFIG_NF_FLOW_TABLE_IPV4" not in values
    text = render_kernel_fragment(closure_for(catalog, "24.10"))
    assert "# CONFIG_NFT_COMPAT is not set\n" in text
    symbols = [line.lstrip("# ").split("=")[0].split(" ")[0] for line in text.splitlines()]
    assert symbols == sorted(symbols)


def test_fragment_differs_by_kernel_series(catalog: Catalog) -> None:
    old = parse_config(render_kernel_fragment(closure_for(catalog, "22.03")))
    assert old["CONFIG_NF_LOG_COMMON"] == "m" and "CONFIG_NF_LOG_SYSLOG" not in old
    assert old["CONFIG_NF_FLOW_TABLE_IPV4"] == "m"


def test_config_seed(catalog: Catalog) -> None:
    seed = render_config_seed(closure_for(catalog, "24.10"))
    lines = seed.splitlines()
    assert lines[:2] == ["CONFIG_TARGET_x86=y", "CONFIG_TARGET_x86_64=y"]
    for off in ("ALL", "ALL_KMODS", "ALL_NONSHARED"):
        assert f"# CONFIG_{off} is not set" in lines
    assert "CONFIG_PACKAGE_kmod-nft-offload=m" in lines
    assert "CONFIG_PACKAGE_kmod-crypto-hash=m" in lines


def test_modules_d(catalog: Catalog) -> None:
    closure = closure_for(catalog, "24.10")
    assert render_modules_d(closure.get("nf-flow")) == {
        "/etc/modules.d/nf-flow": "nf_flow_table\nnf_flow_table_hw\n"
    }
    assert render_modules_d(closure.get("crypto-hash")) == {
        "/etc/modules.d/02-crypto-hash": "crypto_hash\n",
        "/etc/modules-boot.d/02-crypto-hash": "../modules.d/02-crypto-hash",
    }


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


_RENDER_SCRIPT = """
import sys
from pathlib import Path
from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.render import render_feed
from kmodkit.resolve import resolve_closure
release = lookup_release("24.10")
target = lookup_target("x86_64")
closure = resolve_closure(load_catalog(), ["kmod-nft-offload"], release=release, target=target)
render_feed(closure, flavour=sys.argv[1], out_dir=Path(sys.argv[2]), release=release, target=target)
"""

# Each render runs in its own interpreter: hash seed, time zone, umask and locale all differ.
_ENVIRONMENTS = (
    {"PYTHONHASHSEED": "0", "TZ": "UTC", "LC_ALL": "C", "UMASK": "022"},
    {"PYTHONHASHSEED": "4242", "TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8", "UMASK": "077"},
)


def _render_in_process(flavour: str, out: Path, env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    import kmodkit

    src = str(Path(kmodkit.__file__).resolve().parents[1])
    full = {**os.environ, **env, "PYTHONPATH": src}
    command = f'umask {env["UMASK"]} && exec {sys.executable} -c "$0" "$@"'
    subprocess.run(["sh", "-c", command, _RENDER_SCRIPT, flavour, str(out)], env=full, check=True)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("flavour", ["buildroot", "out-of-tree"])
def test_render_feed_is_deterministic(tmp_path: Path, flavour: str) -> None:
    """Byte-identical across interpreters (PYTHONHASHSEED, TZ, umask, locale all differ)."""
    for n, env in enumerate(_ENVIRONMENTS):
        _render_in_process(flavour, tmp_path / str(n), env)
    first, second = _tree(tmp_path / "0"), _tree(tmp_path / "1")
    assert first == second
    assert len(first) > 20
    modes = _modes(tmp_path / "0")
    assert set(modes.values()) <= {0o644, 0o755}, modes
    names = {p.name for p in (tmp_path / "0").iterdir()}
    assert {"nft-offload", "nf-conntrack", "_kmodkit"} <= names
    sysctl = tmp_path / "0" / "nf-conntrack" / "files" / "11-nf-conntrack.conf"
    assert b"nf_conntrack" in sysctl.read_bytes()
    if flavour == "out-of-tree":
        kbuild = tmp_path / "0" / "nft-offload" / "kbuild" / "net" / "netfilter" / "Kbuild"
        assert "obj-m := nf_flow_table_inet.o nft_flow_offload.o" in kbuild.read_text()


def test_default_replaces_the_all_line_in_config_in(catalog: Catalog, tmp_path: Path) -> None:
    # scripts/package-metadata.pl (v24.10.7 lines 309-323): DEFAULT, comma-separated, takes the
    # place of "m if ALL||ALL_NONSHARED||ALL_KMODS"; a hidden package keeps only its DEFAULT
    feed = tmp_path / "feed"
    feed.mkdir()
    for name, extra in (
        ("crypto-hash", 'default = "y if IPV6, m"\n'),
        ("crypto-crc32c", "hidden = true\n"),
    ):
        spec = (feeds_dir() / f"base/{name}.toml").read_text(encoding="utf-8")
        (feed / f"{name}.toml").write_text(extra + spec, encoding="utf-8")
    text = render_config_in(closure_for(load_catalog([feed]), "24.10"))
    crypto = text.split("config PACKAGE_kmod-crypto-hash\n", 1)[1].split("help", 1)[0]
    assert (
        "\t\tdefault y if DEFAULT_kmod-crypto-hash\n\t\tdefault y if IPV6\n\t\tdefault m\n"
        in crypto
    )
    assert "ALL_KMODS" not in crypto
    crc = text.split("config PACKAGE_kmod-crypto-crc32c\n", 1)[1].split("help", 1)[0]
    assert "default" in crc and "ALL_KMODS" not in crc
    makefile = render_makefile(
        closure_for(load_catalog([feed]), "24.10").get("crypto-hash"),
        flavour="buildroot",
        release=lookup_release("24.10"),
        target=X86,
    )
    assert kernel_package_vars(makefile, "crypto-hash")["DEFAULT"] == "y if IPV6, m"
