"""Opt-in: build kmod-nft-offload with a REAL extracted OpenWrt SDK through run_sdk_make.

Runs only when KMODKIT_SDK_DIR names an extracted SDK (openwrt-sdk-*.tar.{xz,zst} from
downloads.openwrt.org); KMODKIT_SDK_RELEASE (default 24.10) tells kmodkit's renderer which
release scheme to follow. Takes minutes (the SDK's make), so it is not part of the default run.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest

from kmodkit.kernel.kconfig_file import parse_kconfig
from kmodkit.pipeline.sdk_make import run_sdk_make

SDK_ENV = "KMODKIT_SDK_DIR"
ROOT = "kmod-nft-offload"

pytestmark = [
    pytest.mark.sdk,
    pytest.mark.skipif(
        not os.environ.get(SDK_ENV),
        reason=f"set {SDK_ENV} to an extracted OpenWrt SDK to run the real sdk-make build",
    ),
]

# Used only when kmodkit.render.render_feed is not available: the facts' 24.10 definition,
# taking the modules the SDK ships in its kernel build dir; dependencies come from the core.
HANDWRITTEN_MAKEFILE = """\
include $(TOPDIR)/rules.mk
include $(INCLUDE_DIR)/kernel.mk

PKG_NAME:=nft-offload
PKG_RELEASE:=1

include $(INCLUDE_DIR)/package.mk

define KernelPackage/nft-offload
  SUBMENU:=Netfilter Extensions
  TITLE:=Netfilter nf_tables routing/NAT offload support
  DEPENDS:=@IPV6 +kmod-nf-flow +kmod-nft-nat
  KCONFIG:=CONFIG_NF_FLOW_TABLE_INET CONFIG_NFT_FLOW_OFFLOAD
  FILES:= \\
\t$(LINUX_DIR)/net/netfilter/nf_flow_table_inet.ko \\
\t$(LINUX_DIR)/net/netfilter/nft_flow_offload.ko
  AUTOLOAD:=$(call AutoProbe,nf_flow_table_inet nft_flow_offload)
endef

define KernelPackage/nft-offload/description
 Kernel modules for nftables routing/NAT flow offload (kmodkit SDK test feed)
endef

$(eval $(call KernelPackage,nft-offload))
"""


def _feed(out: Path, board: str, subtarget: str) -> tuple[Path, list[str]]:
    """kmodkit's rendered feed when the renderer exists, else the hand-written one."""
    try:
        catalog = importlib.import_module("kmodkit.catalog")
        resolve = importlib.import_module("kmodkit.resolve")
        render = importlib.import_module("kmodkit.render")
        render_feed = render.render_feed
    except (ImportError, AttributeError):
        (out / "nft-offload").mkdir(parents=True)
        (out / "nft-offload" / "Makefile").write_text(HANDWRITTEN_MAKEFILE)
        return out, [ROOT]
    release = catalog.lookup_release(os.environ.get("KMODKIT_SDK_RELEASE", "24.10"))
    target = catalog.lookup_target(f"{board}/{subtarget}")
    closure = resolve.resolve_closure(
        catalog.load_catalog(),
        ROOT,
        release=release,
        target=target,
        kernel_version=release.kernel_series,
        symbols=(),
        kernel_config=None,
        builtin_modules=None,
    )
    render_feed(closure, flavour="buildroot", out_dir=out, release=release, target=target)
    return out, [p.name for p in closure.packages if not getattr(p, "empty", False)]


def test_real_sdk_builds_kmod_nft_offload(tmp_path: Path) -> None:
    sdk = Path(os.environ[SDK_ENV])
    sdk_config = (sdk / ".config").read_text()
    values = parse_kconfig(sdk_config)
    board = values["CONFIG_TARGET_BOARD"]
    subtarget = values["CONFIG_TARGET_SUBTARGET"]
    feed, packages = _feed(tmp_path / "feed", board, subtarget)

    dropped = re.compile(r"^(# )?CONFIG_(ALL|ALL_KMODS|ALL_NONSHARED|PACKAGE_kmod-[^= ]+)[= ]")
    seed_lines = [ln for ln in sdk_config.splitlines() if not dropped.match(ln)]
    seed_lines += [f"# CONFIG_{s} is not set" for s in ("ALL", "ALL_KMODS", "ALL_NONSHARED")]
    seed_lines += ["CONFIG_IPV6=y", *(f"CONFIG_PACKAGE_{p}=m" for p in packages)]

    result = run_sdk_make(
        sdk,
        feed_dir=feed,
        packages=packages,
        seed_config="\n".join(seed_lines) + "\n",
        board=board,
        subtarget=subtarget,
        jobs=os.cpu_count() or 1,
        log_dir=tmp_path / "logs",
    )
    by_name = {p.name: p for p in result.artifacts}
    offload = [n for n in by_name if n.startswith(f"{ROOT}_") or n.startswith(f"{ROOT}-")]
    assert len(offload) == 1, f"no {ROOT} package among {sorted(by_name)}"
    artifact = by_name[offload[0]]
    assert artifact.suffix in (".ipk", ".apk") and artifact.stat().st_size > 0
