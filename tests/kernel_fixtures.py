"""Session-scoped kernel fixtures: the distro tree and the modules compiled from it, once.

tests/conftest.py can load these with ``from kernel_fixtures import *`` style re-exports
(see tests/kernel/conftest.py for the path-based import used until then).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.kernel import open_tree
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.kernel.tree import KernelTree

# The smallest real compile that shows cross-directory symbols: nf_flow_table needs
# nf_conntrack's exports, nft_flow_offload needs nf_tables' (all from Module.symvers).
CHAIN_REQUESTS = (
    ModuleRequest("kmod-nf-flow", "net/netfilter/nf_flow_table.ko"),
    ModuleRequest("kmod-nft-offload", "net/netfilter/nft_flow_offload.ko"),
    ModuleRequest("kmod-lib-crc32c", "lib/libcrc32c.ko"),
)


@pytest.fixture(scope="session")
def distro_tree(kmodkit_cache: Path) -> KernelTree:
    """Debian's headers + sources (provisioned via apt when missing and running as root)."""
    return open_tree()


@pytest.fixture(scope="session")
def compiled_chain(
    distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ModuleResult]:
    """nf_flow_table, nft_flow_offload and libcrc32c compiled for real (once per session)."""
    logs = tmp_path_factory.mktemp("kbuild-logs")
    return obtain_modules(distro_tree, CHAIN_REQUESTS, jobs=None, log_dir=logs)
