"""Session fixtures for the boot tests: one real feed, its kernel image, and few boots.

Booting is the expensive part (tens of seconds under TCG), so every scenario that can share a
guest does: one boot of the real feed (all checks, through `build --boottest`), one boot of a
deliberately broken copy (patched vermagic + missing dependency package) with a user ruleset,
and one hung guest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodkit.boottest import BootOptions, BootReport, run_boottest
from kmodkit.boottest.feed import read_feed
from kmodkit.boottest.kernel_image import KernelImage
from kmodkit.boottest.runner import feed_release, kernel_for
from kmodkit.formats import ipk
from kmodkit.formats.model import Entry
from kmodkit.pipeline.build import BuildOptions, BuildResult, build

PATCHED_PACKAGE = "kmod-nft-nat"
PATCHED_MODULE = "nft_masq"
REMOVED_PACKAGE = "kmod-nf-reject6"
# --ruleset, fw4's way (facts section 12): `flow offload`, a counter, a drop policy, no NAT
# (the broken feed's nft_masq does not load).
FW4_RULESET = """\
table inet fw4 {
	flowtable ft {
		hook ingress priority filter
		devices = { "lan", "wan" }
		counter
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		meta l4proto { tcp, udp } flow offload @ft
		ct state established,related accept
		iifname "lan" oifname "wan" accept
	}
}
"""
FOREIGN_VERMAGIC = "6.6.93 SMP mod_unload"


@pytest.fixture(scope="session")
def built_with_boottest(
    kmodkit_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """`invoke build --boottest`: the x86_64 distro feed, built for real (modules compiled once
    per session cache) and boot-tested as the last gate before it is published: one boot."""
    out = tmp_path_factory.mktemp("dist")
    return build(BuildOptions(target="x86_64", out=out, boottest=True))


@pytest.fixture(scope="session")
def feed_dir(built_with_boottest: BuildResult) -> Path:
    return built_with_boottest.out_dir


@pytest.fixture(scope="session")
def kernel_image(feed_dir: Path) -> KernelImage:
    feed = read_feed(feed_dir)
    return kernel_for(feed, feed_release(feed), BootOptions(path=feed_dir), lambda _m: None)


@pytest.fixture(scope="session")
def good_boot(built_with_boottest: BuildResult) -> BootReport:
    assert built_with_boottest.boottest is not None
    return built_with_boottest.boottest


def patch_vermagic(data: bytes, vermagic: str) -> bytes:
    """The module with its .modinfo vermagic replaced (same length, NUL padded)."""
    start = data.index(b"vermagic=") + len(b"vermagic=")
    end = data.index(b"\0", start)
    new = vermagic.encode()
    assert len(new) <= end - start
    return data[:start] + new + b"\0" * (end - start - len(new)) + data[end:]


@pytest.fixture(scope="session")
def broken_feed(feed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the feed: one module built 'for another kernel', one dependency missing."""
    root = tmp_path_factory.mktemp("broken") / "dist" / "x86" / "64"
    shutil.copytree(feed_dir, root)
    for path in (root / "ipk").glob(f"{REMOVED_PACKAGE}_*.ipk"):
        path.unlink()
    shutil.rmtree(root / "apk")
    (path,) = (root / "ipk").glob(f"{PATCHED_PACKAGE}_*.ipk")
    pkg = ipk.read_ipk(path.read_bytes(), path.name)
    entries = tuple(
        Entry(e.path, e.kind, e.mode, patch_vermagic(e.data, FOREIGN_VERMAGIC), e.target)
        if e.path.endswith(f"/{PATCHED_MODULE}.ko")
        else e
        for e in pkg.entries
    )
    assert entries != pkg.entries
    source = pkg.to_input()
    patched = type(source)(source.meta, entries, source.scripts, source.conffiles)
    epoch = pkg.meta.source_date_epoch or 0
    path.write_bytes(ipk.pack_ipk(patched, source_date_epoch=epoch))
    return root


@pytest.fixture(scope="session")
def broken_boot(
    broken_feed: Path, kernel_image: KernelImage, tmp_path_factory: pytest.TempPathFactory
) -> BootReport:
    """The broken feed, booted with a user ruleset (the scenario needs none of what is broken)."""
    logs = tmp_path_factory.mktemp("boot-logs")
    ruleset = logs / "fw4.nft"
    ruleset.write_text(FW4_RULESET)
    return run_boottest(BootOptions(path=broken_feed, ruleset=ruleset, keep_logs=logs))
