"""Stripping like OpenWrt: a module compiled for real with DWARF loses its debug info and
nothing the loader or depmod reads; compiled and prebuilt modules reach packing stripped."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import standin_kernel
from kmodkit.errors import BuildError
from kmodkit.kernel import open_tree
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.kernel.modinfo import read_layout, read_modinfo
from kmodkit.kernel.strip import (
    STRIP_FLAGS,
    has_debug_sections,
    strip_identity,
    strip_module,
)
from kmodkit.kernel.tree import KernelTree

pytestmark = pytest.mark.kernel

DEMO_SOURCE = """\
#include <linux/module.h>
#include <linux/init.h>

/* declared here so the test needs no netfilter headers: modpost finds it in Module.symvers */
extern const void *nf_ct_l4proto_find(u8 l4proto);

static int kmodkit_demo_counter;

int kmodkit_demo_value(void)
{
\treturn ++kmodkit_demo_counter + (nf_ct_l4proto_find(6) != NULL);
}
EXPORT_SYMBOL_GPL(kmodkit_demo_value);

static int __init kmodkit_demo_init(void) { return 0; }
static void __exit kmodkit_demo_exit(void) { }
module_init(kmodkit_demo_init);
module_exit(kmodkit_demo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmodkit strip test");
"""


@pytest.fixture(scope="module")
def unstripped_ko(distro_tree: KernelTree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real module from the distro kernel's Kbuild, with the DWARF its config asks for."""
    work = tmp_path_factory.mktemp("demo-module")
    (work / "kmodkit_demo.c").write_text(DEMO_SOURCE)
    (work / "Kbuild").write_text("obj-m := kmodkit_demo.o\n")
    command = ["make", "-C", str(distro_tree.build_dir), f"M={work}", "modules"]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return work / "kmodkit_demo.ko"


def test_strip_keeps_modinfo_and_symbols(unstripped_ko: Path, tmp_path: Path) -> None:
    original = unstripped_ko.read_bytes()
    assert has_debug_sections(original, "kmodkit_demo.ko")  # CONFIG_DEBUG_INFO=y
    before = read_modinfo(original, "kmodkit_demo.ko")
    assert before.depends == ("nf_conntrack",)
    assert before.exported == {"kmodkit_demo_value"}
    assert "nf_ct_l4proto_find" in before.undefined

    ko = tmp_path / "kmodkit_demo.ko"
    ko.write_bytes(original)
    ko.chmod(0o640)
    strip_module(ko, cross_compile="")
    stripped = ko.read_bytes()
    after = read_modinfo(stripped, "kmodkit_demo.ko (stripped)")

    assert after.vermagic == before.vermagic and after.depends == before.depends
    assert after.undefined == before.undefined and after.exported == before.exported
    assert after.fields == before.fields  # every .modinfo string, srcversion included
    assert not has_debug_sections(stripped, "stripped")
    names = {s.name for s in read_layout(stripped, "stripped").sections}
    assert {".modinfo", "__versions", "__ksymtab_gpl", ".gnu.linkonce.this_module"} <= names
    assert not names & {".comment", ".note.gnu.build-id"}
    assert len(stripped) * 3 < len(original)
    assert ko.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["kmodkit_demo.ko"]  # no temp file left


def test_strip_is_deterministic_and_idempotent(unstripped_ko: Path, tmp_path: Path) -> None:
    copies = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        copy = tmp_path / name / "kmodkit_demo.ko"
        shutil.copy(unstripped_ko, copy)
        strip_module(copy, cross_compile="")
        copies.append(copy.read_bytes())
    assert copies[0] == copies[1]
    strip_module(tmp_path / "a" / "kmodkit_demo.ko", cross_compile="")
    assert (tmp_path / "a" / "kmodkit_demo.ko").read_bytes() == copies[0]


def test_compiled_modules_are_cached_stripped(
    compiled_chain: dict[str, ModuleResult], distro_tree: KernelTree
) -> None:
    for result in compiled_chain.values():
        assert result.ko is not None
        data = result.ko.read_bytes()
        assert not has_debug_sections(data, str(result.ko))
        assert read_modinfo(data, str(result.ko)).vermagic == distro_tree.vermagic
    flow = compiled_chain["net/netfilter/nf_flow_table.ko"].ko
    assert flow is not None and flow.stat().st_size < 400_000  # 1.7 MB with DWARF


def test_unstripped_prebuilt_module_is_stripped_into_the_cache(
    unstripped_ko: Path, distro_tree: KernelTree, tmp_path: Path
) -> None:
    rel = "net/netfilter/kmodkit_demo.ko"
    kdir = standin_kernel.kernel_dir(tmp_path / "kdir", distro_tree, {rel: unstripped_ko})
    tree = open_tree(kernel_dir=kdir)
    request = ModuleRequest("kmod-demo", rel)
    result = obtain_modules(tree, [request], jobs=1, log_dir=tmp_path / "logs")[rel]
    assert result.status == "prebuilt" and result.ko is not None
    assert result.ko != kdir / rel and "stripped copy" in result.note
    assert not has_debug_sections(result.ko.read_bytes(), "copy")
    assert has_debug_sections((kdir / rel).read_bytes(), "source")  # the tree is left alone
    again = obtain_modules(tree, [request], jobs=1, log_dir=tmp_path / "logs")[rel]
    assert again.ko == result.ko

    clean = standin_kernel.kernel_dir(tmp_path / "clean", distro_tree, {rel: result.ko})
    plain = obtain_modules(open_tree(kernel_dir=clean), [request], jobs=1, log_dir=tmp_path)
    assert plain[rel].ko == clean / rel  # already stripped: used in place


def test_strip_failures_are_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ko"
    bogus.write_bytes(b"\x7fELF not really an object")
    with pytest.raises(BuildError) as info:
        strip_module(bogus, cross_compile="")
    assert "bogus.ko" in str(info.value) and "\n" not in str(info.value)
    assert bogus.read_bytes() == b"\x7fELF not really an object"
    assert [p.name for p in tmp_path.iterdir()] == ["bogus.ko"]
    with pytest.raises(BuildError, match=r"nosuch-linux-objcopy.*CROSS_COMPILE"):
        strip_module(bogus, cross_compile="nosuch-linux-")


def test_strip_identity_names_tool_and_flags() -> None:
    identity = strip_identity("")
    assert identity.startswith("GNU objcopy") or "objcopy" in identity.lower()
    assert " ".join(STRIP_FLAGS) in identity
