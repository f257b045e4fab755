"""A built feed as a device sees it: its packages, installed into a root, and kmodloader's plan.

Packages are read with kmodkit's own ipk/apk readers and installed the way opkg/apk would:
every file, directory and symlink of their data. The module load plan follows OpenWrt's
kmodloader: ``/etc/modules.d`` files in lexical order, each module's ``depends=`` loaded first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.boottest.initramfs import Initramfs, Node
from kmodkit.errors import UsageError
from kmodkit.formats import apk, ipk
from kmodkit.formats.model import Entry
from kmodkit.formats.pathsafety import Member, require_safe
from kmodkit.kernel.modinfo import ModInfo, module_name, read_modinfo

_KERNEL_DEP = re.compile(r"^kernel\s*\(\s*=\s*([^)\s]+)\s*\)$")


@dataclass(frozen=True)
class FeedPackage:
    name: str
    version: str
    arch: str
    depends: tuple[str, ...]  # opkg syntax (`kernel (=6.1.176~hash-r1)`, `kmod-nf-flow`)
    entries: tuple[Entry, ...]
    file: Path

    def dependency_names(self) -> list[str]:
        names = []
        for item in self.depends:
            for alt in item.split("|"):
                name = re.split(r"[\s(<>=~]", alt.strip(), maxsplit=1)[0]
                if name:
                    names.append(name)
        return names

    def kernel_dependency(self) -> str | None:
        for item in self.depends:
            match = _KERNEL_DEP.match(item.strip())
            if match:
                return match.group(1)
        return None


@dataclass(frozen=True)
class Module:
    package: str
    path: str  # below the root: lib/modules/<release>/x.ko
    info: ModInfo


@dataclass(frozen=True)
class LoadStep:
    package: str
    module: str
    path: str
    params: str
    autoload: bool  # named by a modules.d file (else: loaded to test it, kmodloader would not)


@dataclass
class Feed:
    """The packages of one target's feed directory (ipk preferred, else apk)."""

    root: Path
    kind: str
    packages: list[FeedPackage] = field(default_factory=list)

    def names(self) -> set[str]:
        return {p.name for p in self.packages}


INDEXES = (("ipk", "Packages"), ("apk", "packages.adb"))  # opkg preferred when both exist


def find_feeds(path: Path) -> list[Path]:
    """The feeds under ``path``, one directory per target, sorted.

    ``invoke build`` puts a target's feeds in ``<target>/ipk`` and ``<target>/apk``; ``invoke
    release`` puts both in one ``.../kmods/<kver>-<rel>-<hash>/`` directory. Either way the
    directory returned is the one ``read_feed`` takes.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such feed directory")
    if path.is_file():
        raise UsageError(f"{path}: give a feed directory (dist/<kernel>/<target>), not a file")
    found = set()
    for _kind, index in INDEXES:
        for mark in path.rglob(index):
            feed_dir = mark.parent
            found.add(feed_dir.parent if feed_dir.name in ("ipk", "apk") else feed_dir)
    return sorted(found)


def _feed_files(target_dir: Path) -> tuple[str, list[Path]] | None:
    for kind, index in INDEXES:
        for directory in (target_dir / kind, target_dir):
            if (directory / index).is_file():
                return kind, sorted(directory.glob(f"*.{kind}"))
    return None


def read_feed(target_dir: Path) -> Feed:
    found = _feed_files(target_dir)
    if found is None:
        raise UsageError(f"{target_dir}: no Packages or packages.adb (in it, ipk/ or apk/)")
    kind, files = found
    feed = Feed(target_dir, kind)
    for file in files:
        feed.packages.append(read_package(file))
    if not feed.packages:
        raise UsageError(f"{target_dir}: its {kind} feed holds no packages")
    return feed


def read_package(file: Path) -> FeedPackage:
    data = file.read_bytes()
    if file.suffix == ".ipk":
        pkg = ipk.read_ipk(data, file.name)
        meta = pkg.meta
        return FeedPackage(meta.name, meta.version, meta.arch, meta.depends, pkg.entries, file)
    apk_pkg = apk.read_apk(data, file.name)
    depends = tuple(_apk_dep_to_opkg(d) for d in apk_pkg.depends)
    return FeedPackage(apk_pkg.name, apk_pkg.version, apk_pkg.arch, depends, apk_pkg.entries, file)


def _apk_dep_to_opkg(dep: str) -> str:
    """``kernel=6.1.176~hash-r1`` -> ``kernel (=6.1.176~hash-r1)``; plain names unchanged."""
    match = re.match(r"^([^<>=~]+)(=)(.+)$", dep)
    return f"{match.group(1)} (={match.group(3)})" if match else dep


def install(feed: Feed, image: Initramfs) -> list[str]:
    """Install every package's data into ``image``; returns the missing dependencies found.

    A dependency on ``kernel`` is satisfied by the booted kernel itself; any other name the
    feed does not hold is reported (opkg would refuse; here the modules still get a chance to
    load so the kernel can name what is missing).
    """
    names = feed.names()
    missing = []
    for pkg in feed.packages:
        for dep in pkg.dependency_names():
            if dep != "kernel" and dep not in names:
                missing.append(f"{pkg.name} depends on {dep}, which the feed does not have")
        members = [Member(e.path, e.kind, e.mode, e.target) for e in pkg.entries]
        require_safe(members, where=pkg.file.name)  # formats.pathsafety: the device's rules
        for entry in pkg.entries:
            where = f"{pkg.file.name}:{entry.path}"
            if entry.kind == "file":
                image.add(Node(entry.path, "file", entry.mode, entry.data), where)
            elif entry.kind == "dir":
                image.add(Node(entry.path, "dir", entry.mode or 0o755), where)
            else:
                image.add(Node(entry.path, "symlink", 0o777, target=entry.target), where)
    return missing


def modules_of(feed: Feed) -> dict[str, Module]:
    """Every .ko of the feed by module name (the name the kernel and modules.d use)."""
    found: dict[str, Module] = {}
    for pkg in feed.packages:
        for entry in pkg.entries:
            if entry.kind == "file" and entry.path.endswith(".ko"):
                info = read_modinfo(entry.data, f"{pkg.file.name}:{entry.path}")
                found[module_name(entry.path)] = Module(pkg.name, entry.path, info)
    return found


def modules_d(feed: Feed) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(file name, package, [(module, params)]) for every etc/modules.d file, lexical order."""
    files = []
    for pkg in feed.packages:
        for entry in pkg.entries:
            parent, _, base = entry.path.rpartition("/")
            if parent == "etc/modules.d" and entry.kind == "file":
                lines = []
                for line in entry.data.decode("utf-8", "replace").splitlines():
                    words = line.split(None, 1)
                    if words and not words[0].startswith("#"):
                        lines.append((words[0], words[1] if len(words) > 1 else ""))
                files.append((base, pkg.name, lines))
    return sorted(files)


def load_plan(feed: Feed) -> tuple[list[LoadStep], list[str]]:
    """kmodloader's order, then every other module of the feed; plus unknown names.

    Unknown names are modules.d lines or ``depends=`` entries no package provides (they may be
    built into the kernel, which only the boot can tell).
    """
    modules = modules_of(feed)
    plan: list[LoadStep] = []
    planned: set[str] = set()
    unknown: list[str] = []

    def visit(name: str, params: str, autoload: bool, trail: tuple[str, ...]) -> None:
        key = module_name(name)
        if key in planned or key in trail:
            return
        module = modules.get(key)
        if module is None:
            if name not in unknown:
                unknown.append(name)
            return
        for dep in module.info.depends:
            visit(dep, "", autoload, (*trail, key))
        planned.add(key)
        plan.append(LoadStep(module.package, key, module.path, params, autoload))

    for _file, _pkg, lines in modules_d(feed):
        for name, params in lines:
            visit(name, params, True, ())
    for name in sorted(modules):
        visit(name, "", False, ())
    return plan, unknown
