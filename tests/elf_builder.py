"""A minimal ELF relocatable writer for tests: .modinfo, .symtab, .strtab and .shstrtab only.

Hand-built so the module reader is tested on every class/byte order (mips big-endian modules
exist) without a cross toolchain, and so pipeline tests can make modules with any name and
``depends=`` line.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

EM_MIPS = 8
EM_X86_64 = 62


def _strtab(names: Sequence[str]) -> tuple[bytes, dict[str, int]]:
    table = b"\0"
    index: dict[str, int] = {"": 0}
    for name in names:
        if name not in index:
            index[name] = len(table)
            table += name.encode() + b"\0"
    return table, index


def build_elf(
    *,
    is64: bool,
    big_endian: bool,
    modinfo: bytes,
    symbols: Sequence[tuple[str, bool]],  # (name, defined)
    machine: int = EM_MIPS,
) -> bytes:
    """An ET_REL object; defined symbols point at .modinfo (section 1), others are SHN_UNDEF."""
    e = ">" if big_endian else "<"
    strtab, str_at = _strtab([name for name, _ in symbols])
    sym_fmt = e + ("IBBHQQ" if is64 else "IIIBBH")
    entsize = struct.calcsize(sym_fmt)
    syms = bytes(entsize)  # the null symbol
    for name, defined in symbols:
        info = 0x12 if defined else 0x10  # STB_GLOBAL with STT_FUNC / STT_NOTYPE
        shndx = 1 if defined else 0
        if is64:
            syms += struct.pack(sym_fmt, str_at[name], info, 0, shndx, 0, 0)
        else:
            syms += struct.pack(sym_fmt, str_at[name], 0, 0, info, 0, shndx)
    shstrtab, sh_at = _strtab([".modinfo", ".symtab", ".strtab", ".shstrtab"])
    header_size = 64 if is64 else 52
    bodies = [modinfo, syms, strtab, shstrtab]
    offsets = []
    offset = header_size
    for body in bodies:
        offsets.append(offset)
        offset += len(body)
    shoff = (offset + 7) // 8 * 8
    sh_fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    # (name, type, offset, size, link, info, entsize)
    rows = [
        (0, 0, 0, 0, 0, 0, 0),
        (sh_at[".modinfo"], 1, offsets[0], len(modinfo), 0, 0, 0),
        (sh_at[".symtab"], 2, offsets[1], len(syms), 3, 1, entsize),
        (sh_at[".strtab"], 3, offsets[2], len(strtab), 0, 0, 0),
        (sh_at[".shstrtab"], 3, offsets[3], len(shstrtab), 0, 0, 0),
    ]
    sections = b"".join(
        struct.pack(sh_fmt, name, kind, 0, 0, off, size, link, info, 1, ent)
        for name, kind, off, size, link, info, ent in rows
    )
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big_endian else 1, 1]) + bytes(9)
    if is64:
        header = struct.pack(
            e + "HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(rows), 4
        )
    else:
        header = struct.pack(
            e + "HHIIIIIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, 52, 0, 0, 40, len(rows), 4
        )
    body = ident + header + b"".join(bodies)
    return body + bytes(shoff - len(body)) + sections
