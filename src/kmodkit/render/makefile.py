"""OpenWrt package Makefiles (one source package per kmod) in two flavours.

buildroot: KernelPackage takes FILES from $(LINUX_DIR), for trees whose kernel build already
has the modules (full OpenWrt tree, SDK). out-of-tree: the module sources are copied into
PKG_BUILD_DIR next to a Kbuild that selects only the wanted modules, then built with
``$(KERNEL_MAKE) M=...`` for trees that lack the modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from kmodkit.catalog import Release, Target
from kmodkit.errors import UsageError
from kmodkit.render.env import render_template
from kmodkit.resolve import ModuleFile, ResolvedPackage

FLAVOURS = ("buildroot", "out-of-tree")


@dataclass(frozen=True)
class InstallLine:
    directory: str
    command: str
    source: str
    dest: str


def extra_file_name(path: str) -> str:
    """Where an extra file lives inside the package directory (``files/<basename>``)."""
    return PurePosixPath(path).name


def _install_lines(package: ResolvedPackage) -> list[InstallLine]:
    lines = []
    for extra in package.extra_files:
        command = "$(INSTALL_BIN)" if extra.mode & 0o111 else "$(INSTALL_DATA)"
        lines.append(
            InstallLine(
                str(PurePosixPath(extra.path).parent),
                command,
                f"./files/{extra_file_name(extra.path)}",
                extra.path,
            )
        )
    return lines


def _file_expr(file: ModuleFile, base: str, path: str) -> str:
    full = f"{base}/{path}"
    if file.status is None and file.optional and file.symbol:
        # Only where the kernel builds it as a module (kernel.mk sees the kernel .config).
        return f"$(if $(filter m,$({file.symbol})),{full})"
    return full


def source_dirs(package: ResolvedPackage) -> list[str]:
    """Kernel source directories holding the package's modules, in first-use order."""
    dirs: list[str] = []
    for file in package.installed_files:
        directory = str(PurePosixPath(file.path).parent)
        if directory not in dirs:
            dirs.append(directory)
    return dirs


def render_kbuild(package: ResolvedPackage, directory: str) -> str:
    modules = [
        f.module for f in package.installed_files if str(PurePosixPath(f.path).parent) == directory
    ]
    return render_template(
        "Kbuild.j2",
        package=package.name,
        directory=directory,
        objects=" ".join(f"{m}.o" for m in modules),
    )


def _autoload_expr(package: ResolvedPackage) -> str:
    if package.autoload is None:
        return ""
    modules = " ".join(package.autoload.modules)
    name = package.autoload.filename
    prio = name.split("-", 1)[0] if name != package.short else ""
    if not prio and not package.autoload.boot:
        return f"$(call AutoProbe,{modules})"
    return f"$(call AutoLoad,{prio},{modules}{',1' if package.autoload.boot else ''})"


def render_makefile(
    package: ResolvedPackage, *, flavour: str, release: Release, target: Target
) -> str:
    """The package's Makefile (deterministic text)."""
    if flavour not in FLAVOURS:
        raise UsageError(f"unknown flavour {flavour!r}; valid: {', '.join(FLAVOURS)}")
    out_of_tree = flavour == "out-of-tree"
    base = "$(PKG_BUILD_DIR)" if out_of_tree else "$(LINUX_DIR)"
    files = [_file_expr(f, base, f.path) for f in package.files if f.status in (None, "module")]
    dirs = source_dirs(package) if out_of_tree else []
    return render_template(
        "Makefile.j2",
        pkg=package,
        flavour=flavour,
        release=release.name,
        target=target.name,
        depends=" ".join(package.depends_spec),
        kconfig=list(package.kconfig),
        files=files,
        autoload=_autoload_expr(package),
        description=_description_lines(package.description),
        install=_install_lines(package),
        install_dirs=sorted({line.directory for line in _install_lines(package)}),
        source_dirs=dirs,
        symvers=_symvers_chain(dirs),
    )


def _description_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()] or [""]


def _symvers_chain(dirs: Sequence[str]) -> list[tuple[str, str]]:
    """For each source dir, the Module.symvers of the dirs built before it (space-separated)."""
    chain = []
    for index, directory in enumerate(dirs):
        earlier = " ".join(f"$(PKG_BUILD_DIR)/{d}/Module.symvers" for d in dirs[:index])
        chain.append((directory, earlier))
    return chain
