"""Stand-ins for an extracted OpenWrt SDK and a prepared kernel build dir.

No real SDK can be had on this machine; these directories carry the Debian kernel's real
.config and Module.symvers plus real Kbuild-built modules, laid out as an SDK lays them out.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from kmodkit.kernel.tree import KernelTree

FIXED_VERMAGIC = "1745ebad77278f5cdc8330d17a3f43d6"


def kernel_dir(root: Path, tree: KernelTree, modules: Mapping[str, Path | bytes]) -> Path:
    """A prepared kernel build dir: the tree's config/symvers plus prebuilt modules.

    ``modules`` maps in-tree paths (``net/netfilter/nf_flow_table.ko``) to a file or bytes.
    """
    root.mkdir(parents=True)
    shutil.copy(tree.build_dir / ".config", root / ".config")
    shutil.copy(tree.symvers_path, root / "Module.symvers")
    major, minor, patch = [*tree.version.split("."), "0", "0"][:3]
    (root / "Makefile").write_text(
        f"VERSION = {major}\nPATCHLEVEL = {minor}\nSUBLEVEL = {patch}\nEXTRAVERSION =\n"
    )
    (root / "include/config").mkdir(parents=True)
    (root / "include/config/kernel.release").write_text(tree.release + "\n")
    (root / "modules.builtin").write_text("kernel/net/netfilter/nf_conntrack.ko\n")
    for rel, source in modules.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            dest.write_bytes(source)
        else:
            shutil.copy(source, dest)
    return root


def stand_in_sdk(
    tmp: Path,
    tree: KernelTree,
    modules: Mapping[str, Path | bytes],
    builtin: str = "kernel/net/netfilter/nf_conntrack.ko\n",
    vermagic_hash: str = FIXED_VERMAGIC,
) -> Path:
    """An SDK-shaped directory (build_dir kernel tree, toolchain, .config) with prebuilt modules.

    ``vermagic_hash`` is the SDK's fixed ``.vermagic``: pass another build's hash to make
    packages from that build depend on exactly this stand-in SDK's kernel.
    """
    sdk = tmp / "openwrt-sdk-stand-in"
    kdir = kernel_dir(
        sdk / f"build_dir/target-x86_64_musl/linux-x86_64/linux-{tree.version}", tree, modules
    )
    (kdir / "modules.builtin").write_text(builtin)
    (kdir / ".vermagic").write_text(vermagic_hash + "\n")
    bin_dir = sdk / "staging_dir/toolchain-x86_64_gcc-12.3.0_musl/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "x86_64-openwrt-linux-musl-gcc").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "x86_64-openwrt-linux-musl-gcc").chmod(0o755)
    (sdk / ".config").write_text(
        'CONFIG_TARGET_x86=y\nCONFIG_TARGET_ARCH_PACKAGES="x86_64"\nCONFIG_ARCH="x86_64"\n'
    )
    return sdk


def stand_in_sdk_from_dist(tmp: Path, tree: KernelTree, dist: Path) -> Path:
    """A stand-in SDK holding the modules a distro ``build`` packed into ``dist`` (ipk/).

    Compiled modules become the SDK's prebuilt ones; the build's built-in modules are listed in
    its modules.builtin, so a build on this SDK finds every module of the chain.
    """
    import json
    from pathlib import PurePosixPath

    from kmodkit.formats import ipk

    report = json.loads((dist / "build-report.json").read_text())
    by_name = {}
    for path in sorted((dist / "ipk").glob("*.ipk")):
        for entry in ipk.read_ipk(path.read_bytes(), path.name).entries:
            if entry.path.endswith(".ko"):
                by_name[PurePosixPath(entry.path).name] = entry.data
    modules: dict[str, Path | bytes] = {
        rel: by_name[PurePosixPath(rel).name]
        for rel, info in report["modules"].items()
        if info["origin"] == "compiled"
    }
    builtin = [rel for rel, info in report["modules"].items() if info["origin"] == "builtin"]
    return stand_in_sdk(tmp, tree, modules, builtin="".join(f"kernel/{r}\n" for r in builtin))
