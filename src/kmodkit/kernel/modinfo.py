"""Read what a built ``.ko`` says about itself (its .modinfo and symbol table) with pyelftools."""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from kmodkit.errors import FormatError

_KSYMTAB = "__ksymtab_"


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


def _modinfo_fields(raw: bytes) -> list[tuple[str, str]]:
    fields = []
    for item in raw.split(b"\0"):
        if b"=" in item:
            key, _, value = item.decode("utf-8", "replace").partition("=")
            fields.append((key, value))
    return fields


def read_modinfo(data: bytes, where: str) -> ModInfo:
    """Parse a kernel module; ``where`` names it in errors (FormatError on anything not a .ko)."""
    try:
        elf = ELFFile(io.BytesIO(data))
        section = elf.get_section_by_name(".modinfo")
        if section is None:
            raise FormatError("not a kernel module (no .modinfo section)", where=where)
        fields = _modinfo_fields(section.data())
        defined: set[str] = set()
        undefined: set[str] = set()
        exported: set[str] = set()
        for table in elf.iter_sections():
            if not isinstance(table, SymbolTableSection) or table.name != ".symtab":
                continue
            for symbol in table.iter_symbols():
                if not symbol.name:
                    continue
                if symbol["st_shndx"] == "SHN_UNDEF":
                    undefined.add(symbol.name)
                else:
                    defined.add(symbol.name)
                    if symbol.name.startswith(_KSYMTAB):
                        exported.add(symbol.name[len(_KSYMTAB) :])
    except FormatError:
        raise
    except (ELFError, ValueError, KeyError, IndexError, AssertionError, OSError) as exc:
        raise FormatError(f"not a valid ELF kernel module: {exc}", where=where) from exc
    except Exception as exc:  # pyelftools raises assorted errors on truncated input
        raise FormatError(f"not a valid ELF kernel module: {exc!r}", where=where) from exc
    info = dict(fields)
    name = info.get("name") or where.rsplit("/", 1)[-1].removesuffix(".ko")
    depends = tuple(d for d in info.get("depends", "").split(",") if d)
    return ModInfo(
        name=name,
        vermagic=info.get("vermagic", "").strip(),
        depends=depends,
        license=info.get("license", ""),
        srcversion=info.get("srcversion", ""),
        undefined=frozenset(undefined - defined),
        exported=frozenset(exported),
        fields=tuple(fields),
    )
