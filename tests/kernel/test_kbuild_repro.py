"""Compiled modules do not depend on where they were compiled, and the module cache is checked.

lib/libcrc32c is the cheap witness: one small file whose WARN_ON sites embed ``__FILE__``, so
before the prefix map its bytes carried the cache path. It is compiled for real into two fresh
caches (the sources come from the session's unpacked tree, so no second tar pass).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.kernel.sources import ensure_source_dirs
from kmodkit.kernel.tree import KernelTree

pytestmark = pytest.mark.kernel

CRC = ModuleRequest("kmod-lib-crc32c", "lib/libcrc32c.ko")


@dataclasses.dataclass(frozen=True)
class Compiled:
    cache: Path
    result: ModuleResult


def _compile_in(cache: Path, tree: KernelTree, logs: Path) -> ModuleResult:
    old = os.environ.get("KMODKIT_CACHE")
    os.environ["KMODKIT_CACHE"] = str(cache)
    try:
        return obtain_modules(tree, [CRC], jobs=2, log_dir=logs)[CRC.path]
    finally:
        if old is None:
            os.environ.pop("KMODKIT_CACHE", None)
        else:
            os.environ["KMODKIT_CACHE"] = old


@pytest.fixture(scope="module")
def lib_tree(distro_tree: KernelTree) -> KernelTree:
    root = ensure_source_dirs(distro_tree, ["lib"])
    return dataclasses.replace(distro_tree, source_root=root, source_tarball=None)


@pytest.fixture(scope="module")
def two_caches(
    lib_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Compiled]]:
    runs = []
    for name in ("cache-one", "another/cache-two"):
        cache = tmp_path_factory.mktemp("repro") / name
        runs.append(Compiled(cache, _compile_in(cache, lib_tree, cache.parent / "logs")))
    yield runs


def test_two_caches_compile_identical_bytes(two_caches: list[Compiled]) -> None:
    one, two = (c.result for c in two_caches)
    assert one.status == two.status == "compiled"
    assert one.ko is not None and two.ko is not None and one.ko != two.ko
    assert one.ko.read_bytes() == two.ko.read_bytes()


def test_no_build_path_in_compiled_modules(
    two_caches: list[Compiled], compiled_chain: dict[str, ModuleResult], kmodkit_cache: Path
) -> None:
    """Neither cache's path nor the scratch directory's name reaches a .ko; sources are named
    as an in-tree build names them."""
    for run in two_caches:
        assert run.result.ko is not None
        data = run.result.ko.read_bytes()
        assert b"lib/libcrc32c.c" in data  # the __FILE__ is there, mapped
        for needle in (str(run.cache), str(run.cache.parent), ".kmodkit-", "kbuild"):
            assert needle.encode() not in data, needle
    for result in compiled_chain.values():
        assert result.ko is not None
        data = result.ko.read_bytes()
        assert str(kmodkit_cache).encode() not in data, result.path
        assert b".kmodkit-" not in data, result.path
    flow = compiled_chain["net/netfilter/nf_flow_table.ko"].ko
    assert flow is not None and b"net/netfilter/nf_flow_table" in flow.read_bytes()


def test_damaged_module_cache_entry_is_rebuilt(
    two_caches: list[Compiled], lib_tree: KernelTree, tmp_path: Path
) -> None:
    run = two_caches[0]
    assert run.result.ko is not None
    good = run.result.ko.read_bytes()
    again = _compile_in(run.cache, lib_tree, tmp_path / "logs")
    assert again.status == "cached" and again.ko == run.result.ko
    run.result.ko.unlink()  # `invoke build` used to die here with FileNotFoundError
    rebuilt = _compile_in(run.cache, lib_tree, tmp_path / "logs")
    assert rebuilt.status == "compiled" and rebuilt.ko is not None
    assert rebuilt.ko.read_bytes() == good
    altered = bytearray(good)
    altered[len(altered) // 2] ^= 0xFF
    rebuilt.ko.write_bytes(bytes(altered))
    repaired = _compile_in(run.cache, lib_tree, tmp_path / "logs")
    assert repaired.status == "compiled" and repaired.ko is not None
    assert repaired.ko.read_bytes() == good
