"""Vermagic: OpenWrt's config hash and the string the kernel stamps into every module.

OpenWrt names its kmods feed and the ``kernel (=...)`` dependency after a hash of the kernel
config (include/kernel-defaults.mk): every line of the config matching ``=[ym]`` (grep, so
anywhere on the line), sorted bytewise (``LC_ALL=C sort``), newline-terminated, md5. An SDK
ships the finished value in ``$(LINUX_DIR)/.vermagic``; it wins over recomputing, because
OpenWrt hashes ``.config.set`` (before olddefconfig), which may differ from the final .config.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

_HASHED_LINE = re.compile(rb"=[ym]")


def openwrt_vermagic_hash(config_text: bytes) -> str:
    """The 32-hex md5 OpenWrt computes over a kernel config's ``=y``/``=m`` lines."""
    lines = [line for line in config_text.split(b"\n") if _HASHED_LINE.search(line)]
    lines.sort()
    return hashlib.md5(b"".join(line + b"\n" for line in lines)).hexdigest()


def kernel_vermagic(release: str, config: Mapping[str, str]) -> str:
    """The VERMAGIC_STRING of include/linux/vermagic.h, without its trailing space.

    Covers the generic parts (SMP, preempt, mod_unload, modversions) and the arm64 and MIPS
    MODULE_ARCH_VERMAGIC suffixes (``aarch64``; ``MIPS32_R2 32BIT``); other architectures'
    suffixes (ARM, x86-32 CPU families) are not derived here: trees that have prebuilt modules
    read the real string from one of them instead.
    """

    def on(name: str) -> bool:
        return config.get(name) == "y"

    parts = [release]
    if on("CONFIG_SMP"):
        parts.append("SMP")
    if on("CONFIG_PREEMPT_BUILD") or (on("CONFIG_PREEMPT") and not on("CONFIG_PREEMPT_RT")):
        parts.append("preempt")
    elif on("CONFIG_PREEMPT_RT"):
        parts.append("preempt_rt")
    if on("CONFIG_MODULE_UNLOAD"):
        parts.append("mod_unload")
    if on("CONFIG_MODVERSIONS"):
        parts.append("modversions")
    parts += arch_vermagic(config)
    return " ".join(parts)


_MIPS_FAMILIES = tuple(
    (f"CONFIG_CPU_MIPS{bits}_R{rev}", f"MIPS{bits}_R{rev}")
    for bits in (32, 64)
    for rev in (1, 2, 5, 6)
)


def arch_vermagic(config: Mapping[str, str]) -> list[str]:
    """MODULE_ARCH_VERMAGIC of arch/*/include/asm/vermagic.h (arm64 and MIPS32/64 R1-R6)."""
    if config.get("CONFIG_ARM64") == "y":
        return ["aarch64"]
    if config.get("CONFIG_MIPS") == "y":
        family = [name for symbol, name in _MIPS_FAMILIES if config.get(symbol) == "y"]
        width = "64BIT" if config.get("CONFIG_64BIT") == "y" else "32BIT"
        return [*family[:1], width]
    return []
