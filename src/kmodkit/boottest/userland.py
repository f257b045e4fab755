"""The guest's userland: busybox-static, ``nft``, ``ip`` and ``socat`` with their libraries.

Libraries are found the way the dynamic loader would: the ELF's ``PT_INTERP``, then its
``DT_NEEDED`` entries (recursively) looked up in ``DT_RUNPATH``/``DT_RPATH`` and the multiarch
system directories, read with pyelftools (never by parsing ``ldd`` output, which runs the
binary). Files keep their path, so the guest's ld.so finds them in its default directories.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from kmodkit.boottest.initramfs import Initramfs
from kmodkit.errors import KernelTreeError

# Debian packages that provide the tools (provisioned with apt like the kernel headers).
TOOL_PACKAGES = {
    "busybox": "busybox-static",
    "nft": "nftables",
    "ip": "iproute2",
    "socat": "socat",
}
# Where the tools live in the guest (the generated /init calls them by these paths).
GUEST_PATHS = {
    "busybox": "bin/busybox",
    "nft": "usr/sbin/nft",
    "ip": "sbin/ip",
    "socat": "usr/bin/socat",
}
LIB_DIRS = {
    "x86_64": ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"),
    "aarch64": ("/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib"),
}


@dataclass(frozen=True)
class ElfDeps:
    interpreter: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]


def elf_deps(path: Path) -> ElfDeps:
    """PT_INTERP, DT_NEEDED and DT_RUNPATH/DT_RPATH of one ELF file."""
    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            interp = None
            for segment in elf.iter_segments():
                if isinstance(segment, InterpSegment):
                    interp = str(segment.get_interp_name())
            needed: list[str] = []
            runpath: list[str] = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    for tag in section.iter_tags():
                        kind = tag.entry.d_tag
                        value = cast(Any, tag)  # pyelftools sets needed/runpath/rpath per tag
                        if kind == "DT_NEEDED":
                            needed.append(str(value.needed))
                        elif kind in ("DT_RUNPATH", "DT_RPATH"):
                            text = str(value.runpath if kind == "DT_RUNPATH" else value.rpath)
                            runpath.extend(p for p in text.split(":") if p)
    except (OSError, ELFError) as exc:
        raise KernelTreeError(f"{path}: not a readable ELF file ({exc})") from None
    return ElfDeps(interp, tuple(needed), tuple(runpath))


def find_library(soname: str, dirs: tuple[str, ...], root: Path = Path("/")) -> str | None:
    """The absolute guest path of ``soname`` in the first directory that has it."""
    for directory in dirs:
        if "$ORIGIN" in directory:
            continue
        candidate = root / directory.lstrip("/") / soname
        if candidate.is_file():
            return f"{directory.rstrip('/')}/{soname}"
    return None


def closure(binaries: list[Path], arch: str, root: Path = Path("/")) -> dict[str, Path]:
    """Guest path -> host file for every library and interpreter the binaries need."""
    system = LIB_DIRS.get(arch, LIB_DIRS["x86_64"])
    found: dict[str, Path] = {}
    todo = list(binaries)
    seen: set[Path] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        deps = elf_deps(current)
        if deps.interpreter and deps.interpreter.lstrip("/") not in found:
            host = root / deps.interpreter.lstrip("/")
            if not host.is_file():
                raise KernelTreeError(f"{current}: interpreter {deps.interpreter} not found")
            found[deps.interpreter.lstrip("/")] = host.resolve()
        for soname in deps.needed:
            guest = find_library(soname, (*deps.runpath, *system), root)
            if guest is None:
                raise KernelTreeError(
                    f"{current}: needed library {soname} not found in {', '.join(system)}"
                )
            key = guest.lstrip("/")
            if key not in found:
                found[key] = (root / key).resolve()
                todo.append(found[key])
    return found


def host_tool(name: str) -> Path:
    """The host's copy of a tool (``/bin/busybox``, ``/usr/sbin/nft`` ...), resolved."""
    for candidate in (Path("/") / GUEST_PATHS[name], Path("/usr") / GUEST_PATHS[name]):
        if candidate.is_file():
            return candidate.resolve()
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found:
        return Path(found).resolve()
    raise KernelTreeError(f"{name} not found; install it: apt-get install -y {TOOL_PACKAGES[name]}")


def add_userland(image: Initramfs, arch: str, tools: tuple[str, ...]) -> list[str]:
    """Put the tools and their libraries into the image; returns the guest paths added."""
    binaries = {name: host_tool(name) for name in tools}
    for name, host in binaries.items():
        image.file(GUEST_PATHS[name], host.read_bytes(), 0o755, where=str(host))
    dynamic = [host for name, host in binaries.items() if name != "busybox"]
    libs = closure(dynamic, arch)
    for guest, host in sorted(libs.items()):
        image.file(guest, host.read_bytes(), 0o755, where=str(host))
    return sorted([GUEST_PATHS[n] for n in tools] + list(libs))
