"""Depends completed from modinfo: module names compare as the kernel does (``-`` is ``_``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elf_builder import build_elf
from kmodkit.catalog import load_catalog, lookup_release, lookup_target
from kmodkit.errors import BuildError
from kmodkit.kernel.modinfo import module_name
from kmodkit.kernel.tree import KernelTree
from kmodkit.pipeline.modules_deps import missing_package_depends
from kmodkit.resolve import Closure, resolve_closure
from kmodkit.verify import views

SPECS = {
    "foo-core": 'title = "Foo core"\nsubmenu = "Other"\nfiles = ["drivers/foo/foo-core.ko"]\n',
    "foo-user": (
        'title = "Foo user"\nsubmenu = "Other"\ndepends = ["+kmod-foo-core"]\n'
        'files = ["drivers/foo/foo_user.ko", "drivers/foo/foo-extra.ko"]\n'
    ),
    "foo-other": 'title = "Foo other"\nsubmenu = "Other"\nfiles = ["drivers/foo/foo-other.ko"]\n',
}


def _ko(name: str, depends: str) -> bytes:
    info = f"vermagic=6.6.93 SMP\0name={name}\0depends={depends}\0license=GPL\0".encode()
    return build_elf(is64=True, big_endian=False, modinfo=info, symbols=[])


def _closure(tmp_path: Path, roots: list[str]) -> Closure:
    feed = tmp_path / "feed"
    feed.mkdir()
    for name, text in SPECS.items():
        (feed / f"{name}.toml").write_text(text)
    return resolve_closure(
        load_catalog([feed]),
        roots,
        release=lookup_release("24.10"),
        target=lookup_target("x86_64"),
        kernel_version="6.6.93",
    )


def _tree(builtin: frozenset[str] = frozenset()) -> KernelTree:
    return KernelTree(
        provider="path",
        release="6.6.93",
        version="6.6.93",
        arch="x86",
        pkg_arch="x86_64",
        cross_compile="",
        build_dir=Path("/nonexistent"),
        config={},
        symvers_path=Path("/nonexistent/Module.symvers"),
        builtin_modules=builtin,
        modules_dir=None,
        source_root=None,
        vermagic_hash="0" * 32,
        vermagic="6.6.93 SMP",
        identity="0" * 64,
    )


def test_module_name_is_the_kernels() -> None:
    assert module_name("drivers/foo/foo-core.ko") == "foo_core"
    assert module_name("foo-core") == module_name("foo_core.ko") == "foo_core"
    assert views.module_name is module_name  # verify uses the same function


def test_dash_named_module_is_found_as_a_dependency(tmp_path: Path) -> None:
    """foo_user's depends= says foo_core (as Kbuild writes it); the file is foo-core.ko."""
    closure = _closure(tmp_path, ["kmod-foo-user", "kmod-foo-other"])
    modules = {
        "drivers/foo/foo-core.ko": _ko("foo_core", ""),
        "drivers/foo/foo_user.ko": _ko("foo_user", "foo_core,foo-extra"),
        "drivers/foo/foo-extra.ko": _ko("foo_extra", "foo-core"),
        "drivers/foo/foo-other.ko": _ko("foo_other", "foo_user"),
    }
    added = missing_package_depends(closure, modules, _tree())
    assert added == {"kmod-foo-other": ["kmod-foo-user"]}


def test_dash_named_builtin_module_satisfies_a_dependency(tmp_path: Path) -> None:
    closure = _closure(tmp_path, ["kmod-foo-other"])
    modules = {"drivers/foo/foo-other.ko": _ko("foo_other", "bar_builtin")}
    builtin = frozenset({"drivers/bar/bar-builtin.ko"})
    assert missing_package_depends(closure, modules, _tree(builtin)) == {}
    with pytest.raises(BuildError, match="needs module bar_builtin"):
        missing_package_depends(closure, modules, _tree())
