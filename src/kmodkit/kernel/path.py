"""The path provider: any prepared kernel build dir (``--kernel-dir``).

An OpenWrt buildroot's ``build_dir/target-*/linux-*/linux-<ver>/`` or /usr/src/linux-headers-*:
it needs .config, Module.symvers and include/config/kernel.release (``make modules_prepare``).
Built ``.ko`` files found in it are used as they are; full sources in it can be compiled.
"""

from __future__ import annotations

from pathlib import Path

from kmodkit.errors import FormatError, KernelTreeError
from kmodkit.kernel.modinfo import read_modinfo
from kmodkit.kernel.tree import (
    KARCH_BY_MACHINE,
    KernelTree,
    Provider,
    karch_from_config,
    parse_config,
    read_builtin,
    read_release,
    read_version,
    require_tree_files,
    tree_identity,
)
from kmodkit.kernel.vermagic import kernel_vermagic, openwrt_vermagic_hash


def first_module(build_dir: Path) -> Path | None:
    """Any built module in the tree, to read the real vermagic string from."""
    for candidate in sorted(build_dir.glob("*/**/*.ko")):
        if candidate.is_file():
            return candidate
    return None


def tree_vermagic(build_dir: Path, release: str, config: dict[str, str]) -> str:
    """The string built modules carry: read from one of them, else derived from .config."""
    module = first_module(build_dir)
    if module is not None:
        try:
            found = read_modinfo(module.read_bytes(), str(module)).vermagic
        except FormatError:
            found = ""
        if found:
            return found
    return kernel_vermagic(release, config)


def build_tree(
    build_dir: Path,
    *,
    provider: Provider,
    pkg_arch: str | None = None,
    cross_compile: str = "",
    machine: str | None = None,
    vermagic_hash: str | None = None,
) -> KernelTree:
    """A KernelTree for a prepared build dir whose .ko files sit at their in-tree paths."""
    require_tree_files(build_dir)
    if not (build_dir / "include/config/kernel.release").is_file():
        raise KernelTreeError(
            "not a prepared kernel build dir: include/config/kernel.release is missing "
            "(run `make modules_prepare`)",
            where=str(build_dir),
        )
    config_bytes = (build_dir / ".config").read_bytes()
    config = parse_config(config_bytes.decode("utf-8", "replace"))
    release = read_release(build_dir)
    arch = karch_from_config(config) or KARCH_BY_MACHINE.get(machine or "")
    if arch is None:
        raise KernelTreeError(
            "cannot tell the kernel architecture (no CONFIG_X86/ARM64/ARM/MIPS... in .config)",
            where=str(build_dir / ".config"),
        )
    has_sources = (build_dir / "net/netfilter/Makefile").is_file()
    symvers = build_dir / "Module.symvers"
    return KernelTree(
        provider=provider,
        release=release,
        version=read_version(build_dir / "Makefile"),
        arch=arch,
        pkg_arch=pkg_arch,
        cross_compile=cross_compile,
        build_dir=build_dir,
        config=config,
        symvers_path=symvers,
        builtin_modules=read_builtin(build_dir),
        modules_dir=build_dir,
        source_root=build_dir if has_sources else None,
        vermagic_hash=vermagic_hash or openwrt_vermagic_hash(config_bytes),
        vermagic=tree_vermagic(build_dir, release, config),
        identity=tree_identity(release, config_bytes, symvers),
        config_path=build_dir / ".config",
    )


def open_path_tree(kernel_dir: Path) -> KernelTree:
    build_dir = kernel_dir.resolve()
    vermagic_file = build_dir / ".vermagic"
    fixed = vermagic_file.read_text().strip() if vermagic_file.is_file() else None
    return build_tree(build_dir, provider="path", vermagic_hash=fixed or None)
