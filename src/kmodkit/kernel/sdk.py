"""The sdk provider: an extracted OpenWrt SDK (``--sdk PATH``).

Its kernel build dir (build_dir/target-*/linux-*/linux-<ver>/) already holds every built
``.ko``; the package arch comes from the SDK's .config (CONFIG_TARGET_ARCH_PACKAGES), the cross
prefix from staging_dir/toolchain-*/bin, and the vermagic hash is the fixed LINUX_VERMAGIC the
SDK was built with (``$(LINUX_DIR)/.vermagic``), not recomputed.
"""

from __future__ import annotations

import re
from pathlib import Path

from kmodkit.errors import KernelTreeError
from kmodkit.kernel.path import build_tree
from kmodkit.kernel.tree import KernelTree, parse_config


def find_kernel_build_dir(sdk: Path) -> Path:
    found = sorted(p for p in sdk.glob("build_dir/target-*/linux-*/linux-[0-9]*") if p.is_dir())
    if not found:
        raise KernelTreeError(
            "not an OpenWrt SDK: no build_dir/target-*/linux-*/linux-<version>/", where=str(sdk)
        )
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(sdk)) for p in found)
        raise KernelTreeError(f"several kernel build dirs in the SDK: {names}", where=str(sdk))
    return found[0]


def find_cross_compile(sdk: Path) -> str:
    """``<sdk>/staging_dir/toolchain-*/bin/<triplet>-`` from the toolchain's gcc."""
    candidates = sorted(sdk.glob("staging_dir/toolchain-*/bin/*-openwrt-linux*-gcc"))
    if not candidates:
        raise KernelTreeError(
            "no cross compiler in staging_dir/toolchain-*/bin (*-openwrt-linux-*-gcc)",
            where=str(sdk),
        )
    return str(candidates[0])[: -len("gcc")]


def open_sdk_tree(sdk: Path) -> KernelTree:
    sdk = sdk.resolve()
    if not sdk.is_dir():
        problem = (
            "not a directory (an extracted OpenWrt SDK is needed)"
            if sdk.exists()
            else "SDK directory does not exist"
        )
        raise KernelTreeError(problem, where=str(sdk))
    build_dir = find_kernel_build_dir(sdk)
    sdk_config_path = sdk / ".config"
    sdk_config = (
        parse_config(sdk_config_path.read_text(errors="replace"))
        if sdk_config_path.is_file()
        else {}
    )
    vermagic_file = build_dir / ".vermagic"
    fixed = vermagic_file.read_text(errors="replace").strip() if vermagic_file.is_file() else ""
    if fixed and not re.fullmatch(r"[0-9a-f]{32}", fixed):
        raise KernelTreeError("malformed .vermagic (want 32 hex digits)", where=str(vermagic_file))
    return build_tree(
        build_dir,
        provider="sdk",
        pkg_arch=sdk_config.get("CONFIG_TARGET_ARCH_PACKAGES") or None,
        cross_compile=find_cross_compile(sdk),
        machine=sdk_config.get("CONFIG_ARCH"),
        vermagic_hash=fixed or None,
    )
