"""Read what a built ``.ko`` says about itself: its .modinfo strings and its symbol table.

A rebuild reads every module several times (the build's depends pass, then verify for the ipk
and again for the apk), and pyelftools' generic parser spent over a second on symbol tables.
A relocatable object needs only a few fixed-layout tables, so they are read here with
``struct`` directly (ELF32/ELF64, little and big endian), every offset bounds-checked, and
results are memoized per content hash for the life of the process.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from kmodkit.errors import FormatError

_KSYMTAB = b"__ksymtab_"
_SHT_SYMTAB = 2
_SHT_NOBITS = 8
_SHN_UNDEF = 0
_SHN_XINDEX = 0xFFFF
_CACHE_SIZE = 512


def module_name(path_or_name: str) -> str:
    """The kernel's name of a module, from a path (``net/x/nf-foo.ko``), a file name or a
    ``depends=`` item: no directory, no ``.ko``, ``-`` as ``_`` (Kbuild's KBUILD_MODNAME, which
    modprobe and ``depends=`` use). Every comparison of module names goes through here."""
    base = path_or_name.rsplit("/", 1)[-1]
    base = base.removesuffix(".ko")
    return base.replace("-", "_")


@dataclass(frozen=True)
class ModInfo:
    name: str
    vermagic: str
    depends: tuple[str, ...]
    license: str
    srcversion: str
    undefined: frozenset[str]
    exported: frozenset[str]
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Section:
    """One section header: enough to find, bound-check and classify a section."""

    name: str
    type: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class ElfLayout:
    """The parts of an ELF header the readers need (``endian`` is a struct prefix)."""

    is64: bool
    endian: str
    machine: int
    elf_type: int
    sections: tuple[Section, ...]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


@dataclass(frozen=True)
class _Parsed:
    fields: tuple[tuple[str, str], ...]
    undefined: frozenset[str]
    exported: frozenset[str]


_memo: dict[bytes, _Parsed] = {}


def _bad(message: str, where: str) -> FormatError:
    return FormatError(f"not a valid ELF kernel module: {message}", where=where)


def _check_range(data: bytes, offset: int, size: int, what: str, where: str) -> None:
    if offset < 0 or size < 0 or offset + size > len(data):
        raise _bad(
            f"{what} at byte {offset} (+{size}) lies outside the {len(data)}-byte file", where
        )


def read_layout(data: bytes, where: str) -> ElfLayout:
    """ELF header and section headers (FormatError naming the byte offset at fault)."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise _bad("bad ELF magic or too short", where)
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise _bad(f"unknown ELF class {ei_class} / data encoding {ei_data} at byte 4", where)
    is64 = ei_class == 2
    endian = "<" if ei_data == 1 else ">"
    if is64:
        _check_range(data, 0, 64, "ELF header", where)
        e_type, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx = (
            struct.unpack_from(endian + "HHIQQQIHHHHHH", data, 16)
        )
        want_entsize = 64
        header_fmt = endian + "IIQQQQIIQQ"
    else:
        e_type, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx = (
            struct.unpack_from(endian + "HHIIIIIHHHHHH", data, 16)
        )
        want_entsize = 40
        header_fmt = endian + "IIIIIIIIII"
    if shoff == 0:
        raise _bad("no section header table", where)
    if shentsize != want_entsize:
        raise _bad(f"section header size {shentsize} (expected {want_entsize})", where)
    _check_range(data, shoff, shentsize, "section header 0", where)
    first = struct.unpack_from(header_fmt, data, shoff)
    if shnum == 0:  # extended numbering: the real count sits in section 0
        shnum = first[5]
    if shstrndx == _SHN_XINDEX:
        shstrndx = first[6]
    if shnum > len(data) // shentsize:
        raise _bad(f"{shnum} section headers cannot fit the file", where)
    _check_range(data, shoff, shnum * shentsize, "section header table", where)
    raw = list(struct.iter_unpack(header_fmt, data[shoff : shoff + shnum * shentsize]))
    if not 0 < shstrndx < shnum:
        raise _bad(f"section name table index {shstrndx} out of range", where)
    names_off, names_size = raw[shstrndx][4:6]
    _check_range(data, names_off, names_size, "section name table", where)
    names = data[names_off : names_off + names_size]
    sections = []
    for number, (name_at, sh_type, _, _, offset, size, link, _, _, entsize) in enumerate(raw):
        if sh_type != _SHT_NOBITS:
            _check_range(data, offset, size, f"section {number}", where)
        sections.append(
            Section(_cstring(names, name_at, where), sh_type, offset, size, link, entsize)
        )
    return ElfLayout(is64, endian, machine, e_type, tuple(sections))


def _cstring(table: bytes, at: int, where: str) -> str:
    end = table.find(b"\0", at)
    if at >= len(table) or end < 0:
        raise _bad(f"string index {at} outside its {len(table)}-byte string table", where)
    return table[at:end].decode("utf-8", "replace")


def _modinfo_fields(raw: bytes) -> list[tuple[str, str]]:
    fields = []
    for item in raw.split(b"\0"):
        if b"=" in item:
            key, _, value = item.decode("utf-8", "replace").partition("=")
            fields.append((key, value))
    return fields


def _symbols(data: bytes, layout: ElfLayout, where: str) -> tuple[frozenset[str], frozenset[str]]:
    """(undefined, exported): names of .symtab read with one iter_unpack per table."""
    defined: set[bytes] = set()
    undefined: set[bytes] = set()
    for table in layout.sections:
        if table.type != _SHT_SYMTAB or table.name != ".symtab":
            continue
        entsize = 24 if layout.is64 else 16
        if table.entsize != entsize or table.size % entsize:
            raise _bad(f".symtab entry size {table.entsize} (expected {entsize})", where)
        if not 0 < table.link < len(layout.sections):
            raise _bad(f".symtab links to section {table.link}, which does not exist", where)
        strtab_section = layout.sections[table.link]
        strtab = data[strtab_section.offset : strtab_section.offset + strtab_section.size]
        # only st_name and st_shndx matter: the rest is skipped with pad bytes
        fmt = layout.endian + ("I2xH16x" if layout.is64 else "I10xH")
        symbols = data[table.offset : table.offset + table.size]
        limit = len(strtab)
        for name_at, shndx in struct.iter_unpack(fmt, symbols):
            if not name_at:
                continue
            if name_at >= limit:
                raise _bad(f"symbol name index {name_at} outside .strtab", where)
            name = strtab[name_at : strtab.index(b"\0", name_at)]
            if shndx == _SHN_UNDEF:
                undefined.add(name)
            else:
                defined.add(name)
    exported = {n[len(_KSYMTAB) :] for n in defined if n.startswith(_KSYMTAB)}
    return _names(undefined - defined), _names(exported)


def _names(raw: set[bytes]) -> frozenset[str]:
    return frozenset(n.decode("utf-8", "replace") for n in raw)


def _parse(data: bytes, where: str) -> _Parsed:
    try:
        layout = read_layout(data, where)
        section = layout.section(".modinfo")
        if section is None:
            raise FormatError("not a kernel module (no .modinfo section)", where=where)
        fields = _modinfo_fields(data[section.offset : section.offset + section.size])
        undefined, exported = _symbols(data, layout, where)
    except FormatError:
        raise
    except (struct.error, ValueError, IndexError) as exc:  # ValueError: unterminated name
        raise _bad(str(exc), where) from exc
    return _Parsed(tuple(fields), undefined, exported)


def read_modinfo(data: bytes, where: str) -> ModInfo:
    """Parse a kernel module; ``where`` names it in errors (FormatError on anything not a .ko).

    The same bytes are parsed once per process (the .ko inside an ipk and an apk, the build's
    depends pass and verify): results are kept by sha256 in a small bounded memo.
    """
    digest = hashlib.sha256(data).digest()
    parsed = _memo.get(digest)
    if parsed is None:
        parsed = _parse(data, where)
        if len(_memo) >= _CACHE_SIZE:
            _memo.pop(next(iter(_memo)), None)  # oldest first: modules are read in waves
        _memo[digest] = parsed
    info = dict(parsed.fields)
    name = info.get("name") or module_name(where)
    depends = tuple(d for d in info.get("depends", "").split(",") if d)
    return ModInfo(
        name=name,
        vermagic=info.get("vermagic", "").strip(),
        depends=depends,
        license=info.get("license", ""),
        srcversion=info.get("srcversion", ""),
        undefined=parsed.undefined,
        exported=parsed.exported,
        fields=parsed.fields,
    )
