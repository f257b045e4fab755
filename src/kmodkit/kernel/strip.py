"""Strip kernel modules the way OpenWrt packs them (scripts/strip-kmod.sh, rstrip.sh).

Debian's config has CONFIG_DEBUG_INFO, so freshly compiled modules carry DWARF and are 10-20x
the size OpenWrt ships. OpenWrt runs ``${CROSS}objcopy --strip-unneeded`` and removes a
fixed list of sections; kmodkit does the same (without strip-kmod.sh's symbol renaming,
which OpenWrt skips too when CONFIG_KERNEL_KALLSYMS is set), but keeps the local
``__ksymtab_*`` symbols, which depmod's fallback and kmodkit's own checks read exports from.
Stripping must not change what the module loader or depmod sees, so every stripped module is
re-read and compared with the original before it replaces it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kmodkit.errors import BuildError, FormatError
from kmodkit.kernel.modinfo import ModInfo, read_layout, read_modinfo

# strip-kmod.sh's sections, then the debug info (--strip-debug is implied by
# --strip-unneeded; named so the cache key says it). -w lets -K take a wildcard.
STRIP_FLAGS: tuple[str, ...] = (
    "--strip-debug",
    "--strip-unneeded",
    "-w",
    "--keep-symbol=__ksymtab_*",
    "--keep-symbol=__this_module",
    "--discard-locals",
    "--remove-section=.comment",
    "--remove-section=.pdr",
    "--remove-section=.mdebug.abi32",
    "--remove-section=.note.gnu.build-id",
    "--remove-section=.gnu.attributes",
    "--remove-section=.reginfo",
)


def objcopy_for(cross_compile: str) -> str:
    """The objcopy of the toolchain that compiled the modules (``${CROSS}objcopy``)."""
    return f"{cross_compile}objcopy"


def require_objcopy(cross_compile: str) -> str:
    tool = objcopy_for(cross_compile)
    if shutil.which(tool) is None:
        hint = " (CROSS_COMPILE prefix)" if cross_compile else " (binutils)"
        raise BuildError(f"`{tool}`{hint} not found in PATH: needed to strip kernel modules")
    return tool


def strip_identity(cross_compile: str) -> str:
    """objcopy's version line and the flags: part of every cache key of stripped modules."""
    tool = require_objcopy(cross_compile)
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    version = (result.stdout.splitlines() or [""])[0]
    return f"{version}\0{' '.join(STRIP_FLAGS)}"


def has_debug_sections(data: bytes, where: str) -> bool:
    """True when the module still carries DWARF (.debug_*) or is otherwise unstripped."""
    layout = read_layout(data, where)
    return any(s.name.startswith((".debug_", ".zdebug_")) for s in layout.sections)


def _abi(info: ModInfo) -> tuple[object, ...]:
    """Everything loading and depmod rely on: all .modinfo fields and the symbol interface."""
    return (info.fields, info.vermagic, info.depends, info.undefined, info.exported)


def strip_module(ko: Path, *, cross_compile: str, log: Path | None = None) -> None:
    """Strip ``ko`` in place (atomically); BuildError if that changed its modinfo or symbols."""
    tool = require_objcopy(cross_compile)
    where = str(ko)
    tmp = ko.with_name(f".{ko.name}.strip.tmp")
    command = [tool, *STRIP_FLAGS, str(ko), str(tmp)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    logged = str(log) if log else None
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        detail = " ".join(result.stderr.split())[:300]
        raise BuildError(f"{tool} failed on {ko.name}: {detail}", where=where, log=logged)
    try:
        before = read_modinfo(ko.read_bytes(), where)
        after = read_modinfo(tmp.read_bytes(), f"{where} (stripped)")
    except FormatError as exc:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cannot read module around stripping: {exc}", log=logged) from exc
    if _abi(before) != _abi(after):
        tmp.unlink(missing_ok=True)
        lost = sorted(before.exported - after.exported) + sorted(before.undefined ^ after.undefined)
        raise BuildError(
            f"stripping changed the module's modinfo or symbols ({', '.join(lost[:5])})",
            where=where,
            log=logged,
        )
    os.chmod(tmp, ko.stat().st_mode & 0o7777)
    os.replace(tmp, ko)
