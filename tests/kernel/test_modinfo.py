"""read_modinfo: hand-built ELFs of every class and byte order, tool-made big-endian objects,
real Kbuild modules checked against pyelftools, memoization, and malformed input."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from hypothesis import given, settings
from hypothesis import strategies as st

from elf_builder import build_elf
from kmodkit.errors import FormatError
from kmodkit.kernel import modinfo
from kmodkit.kernel.kbuild import ModuleResult
from kmodkit.kernel.modinfo import read_layout, read_modinfo

MODINFO = (
    b"vermagic=6.6.93 SMP mod_unload mips32r2 \0name=demo\0"
    b"depends=nf_conntrack,libcrc32c\0license=GPL\0"
)
SYMBOLS = [
    ("__ksymtab_demo_hook", True),
    ("demo_hook", True),
    ("nf_ct_get_tuplepr", False),
    ("crc32c", False),
    ("demo_hook", True),  # a name listed twice is one symbol
]


def pyelftools_symbols(data: bytes) -> tuple[frozenset[str], frozenset[str]]:
    """The independent reading: (undefined, exported) as pyelftools sees them."""
    elf = ELFFile(io.BytesIO(data))
    defined: set[str] = set()
    undefined: set[str] = set()
    for table in elf.iter_sections():
        if isinstance(table, SymbolTableSection) and table.name == ".symtab":
            for sym in table.iter_symbols():
                if sym.name:
                    (undefined if sym["st_shndx"] == "SHN_UNDEF" else defined).add(sym.name)
    exported = {n.removeprefix("__ksymtab_") for n in defined if n.startswith("__ksymtab_")}
    return frozenset(undefined - defined), frozenset(exported)


@pytest.mark.parametrize("is64", [False, True], ids=["elf32", "elf64"])
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_every_class_and_byte_order(is64: bool, big_endian: bool) -> None:
    data = build_elf(is64=is64, big_endian=big_endian, modinfo=MODINFO, symbols=SYMBOLS)
    layout = read_layout(data, "demo.ko")
    assert (layout.is64, layout.endian) == (is64, ">" if big_endian else "<")
    info = read_modinfo(data, "demo.ko")
    assert info.name == "demo" and info.license == "GPL"
    assert info.vermagic == "6.6.93 SMP mod_unload mips32r2"
    assert info.depends == ("nf_conntrack", "libcrc32c")
    assert info.undefined == {"nf_ct_get_tuplepr", "crc32c"}
    assert info.exported == {"demo_hook"}
    assert (info.undefined, info.exported) == pyelftools_symbols(data)


TOOL_TARGETS = ["elf32-bigmips", "elf32-tradlittlemips", "elf64-tradbigmips", "elf64-powerpc"]


@pytest.mark.parametrize("target", TOOL_TARGETS)
def test_objects_converted_by_llvm_objcopy(tmp_path: Path, target: str) -> None:
    """A gcc-compiled object rewritten for other ABIs by a real tool reads the same."""
    if shutil.which("llvm-objcopy") is None:
        pytest.fail("llvm-objcopy is missing: apt-get install llvm (Debian's base image has it)")
    (tmp_path / "m.c").write_text(
        'static const char v[] __attribute__((section(".modinfo"), used)) =\n'
        '    "vermagic=6.6.93 SMP mod_unload\\0depends=nf_tables";\n'
        "extern int nft_register_expr(void);\n"
        "int __ksymtab_demo_fn;\n"
        "int demo_fn(void) { return nft_register_expr(); }\n"
    )
    subprocess.run(["gcc", "-c", "-o", str(tmp_path / "m.o"), str(tmp_path / "m.c")], check=True)
    out = tmp_path / f"m-{target}.o"
    subprocess.run(["llvm-objcopy", "-O", target, str(tmp_path / "m.o"), str(out)], check=True)
    data = out.read_bytes()
    native = read_modinfo((tmp_path / "m.o").read_bytes(), "m.ko")
    info = read_modinfo(data, "m.ko")
    assert read_layout(data, "m.ko").endian == (">" if "big" in target or "pc" in target else "<")
    assert info.vermagic == native.vermagic == "6.6.93 SMP mod_unload"
    assert info.depends == ("nf_tables",)
    assert info.undefined == native.undefined == {"nft_register_expr"}
    assert info.exported == native.exported == {"demo_fn"}
    assert (info.undefined, info.exported) == pyelftools_symbols(data)


def test_same_bytes_are_parsed_once_but_named_by_caller() -> None:
    data = build_elf(is64=True, big_endian=False, modinfo=b"vermagic=x\0", symbols=[("f", False)])
    first = read_modinfo(data, "pkg.ipk:/lib/modules/6.6/first.ko")
    assert modinfo._memo[__import__("hashlib").sha256(data).digest()] is not None
    second = read_modinfo(data, "pkg.apk:/lib/modules/6.6/second.ko")
    assert first.undefined is second.undefined  # the memoized parse
    assert (first.name, second.name) == ("first", "second")  # no name= field: from the path


def test_memo_stays_bounded() -> None:
    for number in range(modinfo._CACHE_SIZE + 20):
        data = build_elf(
            is64=False,
            big_endian=True,
            modinfo=f"vermagic=v{number}\0".encode(),
            symbols=[],
        )
        assert read_modinfo(data, "m.ko").vermagic == f"v{number}"
    assert len(modinfo._memo) <= modinfo._CACHE_SIZE


def test_not_elf_is_format_error() -> None:
    with pytest.raises(FormatError, match=r"x\.ko"):
        read_modinfo(b"hello, not an ELF file", "x.ko")


def test_no_modinfo_section_is_format_error() -> None:
    data = build_elf(is64=True, big_endian=False, modinfo=b"", symbols=[])
    broken = data.replace(b".modinfo", b".notinfo")
    with pytest.raises(FormatError, match=r"no \.modinfo section"):
        read_modinfo(broken, "plain.o")


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (4, b"\x07", "ELF class"),
        (0x3C, b"\xff\x7f", "cannot fit"),  # e_shnum of an ELF64 header
        (0x3A, b"\x10\x00", "section header size"),
    ],
)
def test_malformed_headers_name_the_problem(offset: int, value: bytes, message: str) -> None:
    data = bytearray(build_elf(is64=True, big_endian=False, modinfo=MODINFO, symbols=SYMBOLS))
    data[offset : offset + len(value)] = value
    with pytest.raises(FormatError, match=message):
        read_modinfo(bytes(data), "bad.ko")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_escape_as_raw_exceptions(data: bytes) -> None:
    with pytest.raises(FormatError):
        read_modinfo(b"\x7fELF" + data, "fuzz.ko")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(False, False), (False, True), (True, False), (True, True)]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_corrupted_modules_give_modinfo_or_format_error(
    shape: tuple[bool, bool], flips: list[tuple[int, int]]
) -> None:
    is64, big = shape
    data = bytearray(build_elf(is64=is64, big_endian=big, modinfo=MODINFO, symbols=SYMBOLS))
    for at, byte in flips:
        data[at % len(data)] = byte
    try:
        read_modinfo(bytes(data), "flipped.ko")
    except FormatError as exc:
        assert "flipped.ko" in str(exc) and "\n" not in str(exc)


@pytest.mark.kernel
def test_real_modules_agree_with_pyelftools(compiled_chain: dict[str, ModuleResult]) -> None:
    for result in compiled_chain.values():
        assert result.ko is not None
        data = result.ko.read_bytes()
        info = read_modinfo(data, str(result.ko))
        assert (info.undefined, info.exported) == pyelftools_symbols(data)
        assert info.vermagic and info.license and info.name == Path(result.ko).stem


@pytest.mark.kernel
def test_truncated_module_is_format_error(compiled_chain: dict[str, ModuleResult]) -> None:
    ko = compiled_chain["lib/libcrc32c.ko"].ko
    assert ko is not None
    data = ko.read_bytes()
    assert read_modinfo(data, "libcrc32c.ko").name == "libcrc32c"
    for cut in (16, 64, len(data) // 2, len(data) - 100):
        with pytest.raises(FormatError, match=r"libcrc32c\.ko"):
            read_modinfo(data[:cut], "libcrc32c.ko")
