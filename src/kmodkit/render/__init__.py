"""Render a resolved closure: package Makefiles (src-link feed), Config.in, the kernel config
fragment, an OpenWrt .config seed and /etc/modules.d files. Pure string functions plus
``render_feed`` which writes them atomically."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kmodkit.catalog import Release, Target
from kmodkit.fsutil import atomic_directory, atomic_write_text
from kmodkit.render.configin import render_config_in
from kmodkit.render.env import render_template
from kmodkit.render.fragment import render_kernel_fragment, validate_fragment
from kmodkit.render.makefile import (
    FLAVOURS,
    extra_file_name,
    render_kbuild,
    render_makefile,
    source_dirs,
)
from kmodkit.resolve import Closure, ResolvedPackage

__all__ = [
    "FLAVOURS",
    "META_DIR",
    "render_config_in",
    "render_config_seed",
    "render_feed",
    "render_kernel_fragment",
    "render_makefile",
    "render_modules_d",
    "validate_fragment",
]

META_DIR = "_kmodkit"
"""Feed subdirectory for generated non-package files; it has no Makefile, so
``scripts/feeds`` ignores it."""


def _confstr(text: str) -> str:
    return re.sub(r"[/.\-]", "_", text)


def render_config_seed(
    closure: Closure, *, release: Release | None = None, target: Target | None = None
) -> str:
    """A diffconfig selecting the target and every closure package as ``=m`` with ALL off,
    so ``make defconfig`` in an SDK (which defaults ALL=y) neither skips nor adds packages."""
    wanted = sorted(s for s in closure.symbols if s == "IPV6")
    target = target or closure.target
    return render_template(
        "seed.config.j2",
        board=_confstr(target.board),
        subtarget=_confstr(target.subtarget),
        symbols=wanted,
        packages=sorted(closure.names),
    )


def render_modules_d(package: ResolvedPackage) -> dict[str, str]:
    """{absolute path: content} of the package's modules.d file and modules-boot.d link
    (the link's "content" is its target)."""
    if package.autoload is None:
        return {}
    files = {package.autoload.path: package.autoload.content()}
    link = package.autoload.boot_symlink()
    if link is not None:
        files[link[0]] = link[1]
    return files


def closure_json(closure: Closure) -> str:
    data = {
        "release": closure.release.name,
        "target": closure.target.name,
        "kernel_version": closure.kernel_version,
        "root": list(closure.root),
        "packages": [
            {
                "name": p.name,
                "depends": list(p.depends),
                "why": list(p.why),
                "kconfig": list(p.kconfig),
                "files": [f.path for f in p.installed_files],
                "empty": p.empty,
                "empty_reason": p.empty_reason,
            }
            for p in closure.packages
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def render_feed(
    closure: Closure, *, flavour: str, out_dir: Path, release: Release, target: Target
) -> list[Path]:
    """Write the src-link feed (``<out>/<short>/Makefile`` ...) and ``<out>/_kmodkit/``
    (Config.in, kernel fragment, seed, modules.d, closure.json); replaces ``out_dir`` whole."""
    outputs: dict[str, str] = {}
    for package in closure.packages:
        outputs[f"{package.short}/Makefile"] = render_makefile(
            package, flavour=flavour, release=release, target=target
        )
        for extra in package.extra_files:
            outputs[f"{package.short}/files/{extra_file_name(extra.path)}"] = extra.content
        if flavour == "out-of-tree":
            for directory in source_dirs(package):
                outputs[f"{package.short}/kbuild/{directory}/Kbuild"] = render_kbuild(
                    package, directory
                )
        if package.autoload is not None:  # the boot symlink is made by OpenWrt's kernel.mk
            outputs[f"{META_DIR}{package.autoload.path}"] = package.autoload.content()
    outputs[f"{META_DIR}/Config.in"] = render_config_in(closure)
    outputs[f"{META_DIR}/kernel-config.fragment"] = render_kernel_fragment(closure)
    outputs[f"{META_DIR}/seed.config"] = render_config_seed(closure)
    outputs[f"{META_DIR}/closure.json"] = closure_json(closure)
    with atomic_directory(out_dir) as tmp:
        for relative, content in sorted(outputs.items()):
            atomic_write_text(tmp / relative, content)
    return [out_dir / relative for relative in sorted(outputs)]
