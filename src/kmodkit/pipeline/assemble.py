"""The stages of a build once the kernel tree is known: stage, pack, index, sign, verify.

Every function writes inside ``BuildContext.work``, the temporary directory that becomes the
dist directory only when the whole build succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kmodkit.catalog import Release, Target
from kmodkit.errors import BuildError
from kmodkit.formats import apk, apk_index, ipk, opkg_feed
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.fsutil import atomic_write_bytes, atomic_write_text
from kmodkit.kernel import KernelTree
from kmodkit.kernel.modinfo import module_name
from kmodkit.pipeline.keys import BuildKeys, trusted_public_keys
from kmodkit.pipeline.packing import PackageFormat, pack
from kmodkit.pipeline.scheme import VersionScheme
from kmodkit.pipeline.stage import (
    StagedFile,
    StagedSymlink,
    kernel_package,
    kmod_package,
    stage_entries,
)
from kmodkit.render import render_feed, render_kernel_fragment
from kmodkit.resolve import Closure, ResolvedPackage


@dataclass(frozen=True)
class BuildContext:
    """What every stage of one build shares."""

    closure: Closure
    tree: KernelTree
    release: Release
    target: Target
    scheme: VersionScheme
    formats: tuple[PackageFormat, ...]
    epoch: int
    work: Path
    logs: Path
    pack_cache: Path | None  # None: pack everything again


@dataclass
class PackageOutcome:
    name: str
    version: str
    modules: list[str]
    artifacts: dict[str, str] = field(default_factory=dict)  # format -> path inside dist
    size: int = 0
    status: str = "built"  # built | empty
    reused: bool = True
    added_depends: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Packed:
    path: str  # inside the dist directory
    size: int
    new: bool  # False when the pack cache had it


def _pack_into(ctx: BuildContext, pkg: PackageInput, fmt: PackageFormat, subdir: str) -> Packed:
    """Pack (or reuse) one package into ``work/<subdir>``."""
    res = pack(
        pkg,
        fmt,
        source_date_epoch=ctx.epoch,
        installed_size=ctx.release.ipk_installed_size,
        cache=ctx.pack_cache,
    )
    atomic_write_bytes(ctx.work / subdir / res.filename, res.data)
    return Packed(f"{subdir}/{res.filename}", len(res.data), not res.reused)


def _kmod_entries(
    ctx: BuildContext, pkg: ResolvedPackage, modules: Mapping[str, bytes], shipped: set[str]
) -> tuple[Entry, ...]:
    files = [StagedFile(x.path, x.data, x.mode) for x in pkg.extra_files]
    links: list[StagedSymlink] = []
    autoload = pkg.autoload
    if autoload is not None and pkg.present_autoload_modules(shipped):
        files.append(StagedFile(autoload.path, pkg.render_modules_d(shipped).encode()))
        link = autoload.boot_symlink()
        if link is not None:
            links.append(StagedSymlink(*link))
    return stage_entries(modules, ctx.tree.release, files, links)


def pack_kmods(
    ctx: BuildContext,
    module_bytes: Mapping[str, bytes],
    added_depends: Mapping[str, list[str]],
) -> tuple[list[PackageOutcome], int]:
    """Stage and pack every kmod of the closure; returns the outcomes and how many were packed."""
    version = ctx.scheme.kmod_version(ctx.tree.version)
    kernel_dep = ctx.scheme.kernel_dependency(ctx.tree.version, ctx.tree.vermagic_hash)
    shipped = {module_name(path) for path in module_bytes}
    outcomes: list[PackageOutcome] = []
    packed = 0
    for pkg in ctx.closure.packages:
        modules = {
            PurePosixPath(f.path).name: module_bytes[f.path]
            for f in pkg.files
            if f.path in module_bytes
        }
        added = added_depends.get(pkg.name, [])
        meta = PackageMeta(
            name=pkg.name,
            version=version,
            arch=ctx.target.pkg_arch,
            description=pkg.description,
            depends=(kernel_dep, *pkg.depends, *added),
            source=ctx.release.source,
            source_name=ctx.release.source_name_for(pkg.name),
            source_date_epoch=ctx.epoch,
        )
        staged = kmod_package(meta, _kmod_entries(ctx, pkg, modules, shipped))
        outcome = PackageOutcome(
            pkg.name,
            version,
            sorted(modules),
            status="built" if modules else "empty",
            added_depends=added,
        )
        for fmt in ctx.formats:
            result = _pack_into(ctx, staged, fmt, fmt)
            outcome.artifacts[fmt] = result.path
            outcome.size += result.size
            outcome.reused = outcome.reused and not result.new
            packed += result.new
        outcomes.append(outcome)
    return outcomes, packed


def pack_kernel_package(ctx: BuildContext) -> int:
    """The virtual `kernel` package the kmods depend on, kept out of the indexes (kernel/)."""
    meta = PackageMeta(
        name="kernel",
        version=ctx.scheme.kernel_package_version(ctx.tree.version, ctx.tree.vermagic_hash),
        arch=ctx.target.pkg_arch,
        description="Virtual kernel package",
        section="sys",
        source=ctx.release.source,
        source_name="kernel",
        source_date_epoch=ctx.epoch,
    )
    return sum(_pack_into(ctx, kernel_package(meta), fmt, "kernel").new for fmt in ctx.formats)


def outcomes_from_artifacts(names: list[str], artifacts: list[Path]) -> list[PackageOutcome]:
    """Describe packages something else built (an SDK) from their own metadata."""
    outcomes = []
    for name, artifact in zip(names, artifacts, strict=True):
        data = artifact.read_bytes()
        if artifact.suffix == ".apk":
            fmt, pkg = "apk", apk.read_apk(data, str(artifact))
            version, entries = pkg.version, pkg.entries
        else:
            fmt, ipk_pkg = "ipk", ipk.read_ipk(data, str(artifact))
            version, entries = ipk_pkg.meta.version, ipk_pkg.entries
        modules = sorted(PurePosixPath(e.path).name for e in entries if e.path.endswith(".ko"))
        outcomes.append(
            PackageOutcome(
                name,
                version,
                modules,
                {fmt: f"{fmt}/{artifact.name}"},
                len(data),
                status="built" if modules else "empty",
                reused=False,
            )
        )
    return outcomes


def write_feeds(ctx: BuildContext, keys: BuildKeys) -> None:
    """Index and sign each format's directory (Packages + usign, packages.adb + ECDSA)."""
    if "ipk" in ctx.formats:
        ipks = [(p.name, p.read_bytes()) for p in sorted((ctx.work / "ipk").glob("*.ipk"))]
        opkg_feed.write_opkg_feed(ctx.work / "ipk", ipks, keys.usign_secret)
    if "apk" in ctx.formats:
        apks = [(p.name, p.read_bytes()) for p in sorted((ctx.work / "apk").glob("*.apk"))]
        index = apk_index.build_index(apks, signing_key=keys.apk_private)
        atomic_write_bytes(ctx.work / "apk" / "packages.adb", index)
    atomic_write_text(ctx.work / "keys" / keys.usign_key_id, keys.usign_public_text)
    atomic_write_bytes(ctx.work / "keys" / f"{keys.apk_key_id}.pem", keys.apk_public_pem)


def write_generated(ctx: BuildContext, feed_dir: Path) -> None:
    """The OpenWrt feed (Makefiles, Config.in, seed) and the kernel config fragment."""
    render_feed(
        ctx.closure, flavour="buildroot", out_dir=feed_dir, release=ctx.release, target=ctx.target
    )
    atomic_write_text(
        ctx.work / "kconfig" / f"kernel-{ctx.tree.release}.config",
        render_kernel_fragment(ctx.closure, release=ctx.release, target=ctx.target),
    )


def verify_output(ctx: BuildContext, keys: BuildKeys) -> str:
    """Run `invoke verify` strictly on the finished tree; a warning fails the build too.

    The keys it trusts are the public halves of the keys this build signed with, written
    outside the tree: the copies shipped in ``keys/`` are what verify must not rely on.
    """
    from kmodkit.verify import VerifyOptions, verify_paths
    from kmodkit.verify.report import write_json

    with trusted_public_keys(keys) as trusted:
        report = verify_paths(
            [ctx.work],
            options=VerifyOptions(
                kernel=ctx.tree,
                release=ctx.release.name,
                target=ctx.target.name,
                keys=trusted,
            ),
        )
    write_json(report, ctx.logs / "verify.json")
    if not report.ok(strict=True):
        first = "; ".join(r.one_line() for r in report.failures()[:3])
        raise BuildError(
            f"verification failed ({report.failed} failed, {report.warnings} "
            f"warning{'' if report.warnings == 1 else 's'}): {first}",
            log=str(ctx.logs / "verify.json"),
        )
    return f"{report.passed} passed, {report.failed} failed"
