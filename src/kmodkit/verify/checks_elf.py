"""``modules.elf-arch``: every .ko is built for the CPU its package says it is for.

A module compiled for the wrong machine or byte order installs fine and only fails at
``insmod`` on the device ("Exec format error"); the package architecture (``aarch64_generic``,
``mips_24kc``...) names the CPU family, whose ELF machine, class and byte order are fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from kmodkit.verify.model import Findings
from kmodkit.verify.views import PackageView

NOARCH = {"all", "noarch"}


class ElfArch(NamedTuple):
    machine: int  # e_machine
    bits: int  # 32 or 64 (EI_CLASS)
    endian: str  # "little" or "big" (EI_DATA)


# package-arch prefix (before the first ``_`` of ARCH_CPU) -> the ELF header it implies
ELF_BY_PKG_ARCH = {
    "x86_64": ElfArch(62, 64, "little"),
    "i386": ElfArch(3, 32, "little"),
    "aarch64": ElfArch(183, 64, "little"),
    "arm": ElfArch(40, 32, "little"),
    "mipsel": ElfArch(8, 32, "little"),
    "mips": ElfArch(8, 32, "big"),
    "mips64el": ElfArch(8, 64, "little"),
    "mips64": ElfArch(8, 64, "big"),
    "riscv64": ElfArch(243, 64, "little"),
    "loongarch64": ElfArch(258, 64, "little"),
    "powerpc": ElfArch(20, 32, "big"),
    "powerpc64": ElfArch(21, 64, "big"),
}
MACHINE_NAMES = {
    3: "i386",
    8: "MIPS",
    20: "PowerPC",
    21: "PowerPC64",
    40: "ARM",
    62: "x86-64",
    183: "AArch64",
    243: "RISC-V",
    258: "LoongArch",
}


def expected_elf(pkg_arch: str) -> ElfArch | None:
    """The ELF identity of a package arch (``x86_64`` keeps its underscore)."""
    if pkg_arch in ELF_BY_PKG_ARCH:
        return ELF_BY_PKG_ARCH[pkg_arch]
    return ELF_BY_PKG_ARCH.get(pkg_arch.split("_", 1)[0])


def elf_identity(data: bytes) -> ElfArch | None:
    """Machine, class and byte order from an ELF header; None when it is not ELF."""
    if len(data) < 20 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    little = data[5] == 1
    machine = int.from_bytes(data[18:20], "little" if little else "big")
    return ElfArch(machine, 32 if data[4] == 1 else 64, "little" if little else "big")


def describe(elf: ElfArch) -> str:
    name = MACHINE_NAMES.get(elf.machine, f"machine {elf.machine}")
    return f"{name} {elf.bits}-bit {elf.endian}-endian"


def check_elf_arch(views: Sequence[PackageView], findings: Findings) -> None:
    for view in views:
        modules = {p: d for p, d in view.files.items() if p.endswith(".ko")}
        if not modules:
            continue
        art = view.artifact
        if view.arch in NOARCH:
            why = f"kernel modules in an arch '{view.arch}' package"
            findings.fail("modules.elf-arch", art, why)
            continue
        want = expected_elf(view.arch)
        if want is None:
            why = f"unknown package arch {view.arch!r}: not checked"
            findings.warn("modules.elf-arch", art, why)
            continue
        problems = []
        for path, data in sorted(modules.items()):
            found = elf_identity(data)
            if found != want:
                got = describe(found) if found else "not an ELF object"
                problems.append(f"/{path} is {got}, {view.arch} needs {describe(want)}")
        for problem in problems:
            findings.fail("modules.elf-arch", art, problem)
        if not problems:
            findings.ok("modules.elf-arch", art, f"{len(modules)} modules are {describe(want)}")
