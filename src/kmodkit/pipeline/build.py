"""`invoke build`: kernel tree -> modules -> packages -> signed feeds -> verification.

Everything is produced in a temporary directory next to the destination and renamed into
place only after verification passed, so a failed build leaves dist/ as it was. Two engines
fill the packages: ``direct`` (kmodkit obtains the modules and packs them) and ``sdk-make``
(an OpenWrt SDK compiles and packs the generated feed); indexing, signing and verifying are
the same for both (kmodkit.pipeline.assemble).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kmodkit import resources
from kmodkit.catalog import (
    Release,
    Target,
    all_releases,
    load_catalog,
    lookup_release,
    lookup_target,
)
from kmodkit.errors import UsageError
from kmodkit.fsutil import atomic_directory, atomic_write_bytes, sweep_stale_under
from kmodkit.kernel import KernelTree, open_tree
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.pipeline import modules_deps
from kmodkit.pipeline.assemble import (
    BuildContext,
    PackageOutcome,
    outcomes_from_artifacts,
    pack_kernel_package,
    pack_kmods,
    verify_output,
    write_feeds,
    write_generated,
)
from kmodkit.pipeline.keys import BuildKeys, load_or_create_keys
from kmodkit.pipeline.packing import PackageFormat
from kmodkit.pipeline.report import write_build_report
from kmodkit.pipeline.scheme import version_scheme
from kmodkit.pipeline.sdk_make import run_sdk_make
from kmodkit.render import render_config_seed, render_feed
from kmodkit.resolve import resolve_closure

if TYPE_CHECKING:
    from kmodkit.boottest import BootReport

Progress = Callable[[str], None]
FORMATS: tuple[PackageFormat, ...] = ("ipk", "apk")
# Cache temporaries sit at most two levels down (modules/<xx>/, packs/<xx>/, sources/<key>/).
CACHE_SWEEP_DEPTH = 2


@dataclass(frozen=True)
class BuildOptions:
    target: str = "x86_64"
    release: str | None = None
    sdk: Path | None = None
    kernel_dir: Path | None = None
    formats: tuple[PackageFormat, ...] | None = None
    engine: str = "direct"
    out: Path = Path("dist")
    usign_key: Path | None = None
    apk_key: Path | None = None
    jobs: int | None = None
    packages: tuple[str, ...] = ("kmod-nft-offload",)
    feeds: tuple[Path, ...] = ()
    source_date_epoch: int | None = None
    verify: bool = True
    boottest: bool = False  # boot the feed under QEMU before publishing (kmodkit.boottest)
    reuse_packs: bool = True
    allow_kernel_mismatch: bool = False
    distro_series: str | None = (
        None  # another distro kernel series (6.12), see kernel.distro_series
    )


@dataclass
class BuildResult:
    out_dir: Path
    release: Release
    target: Target
    tree: KernelTree
    formats: tuple[PackageFormat, ...]
    packages: list[PackageOutcome]
    keys: BuildKeys
    compiled: int
    reused_modules: int
    repacked: int
    verify_summary: str = ""
    boottest: BootReport | None = None  # with BuildOptions.boottest


def release_for_tree(tree: KernelTree) -> Release:
    """With no --release: the distro kernel follows 24.10, other trees their kernel series."""
    if tree.provider == "distro":
        return lookup_release("24.10")
    series = ".".join(tree.version.split(".")[:2])
    matching = [r for r in all_releases() if r.kernel_series == series and r.name != "snapshot"]
    if not matching:
        raise UsageError(
            f"no OpenWrt release uses kernel {series} (tree {tree.release}); pass --release"
        )
    return matching[-1]


def default_formats(
    tree: KernelTree, release: Release, *, explicit: bool
) -> tuple[PackageFormat, ...]:
    """The release's own format; both for the distro kernel when no release was named."""
    if tree.provider == "distro" and not explicit:
        return FORMATS
    return (release.package_format,)


def dist_name(release: Release, tree: KernelTree, explicit: bool) -> str:
    return tree.release if tree.provider == "distro" and not explicit else release.name


def source_date_epoch(options: BuildOptions, tree: KernelTree) -> int:
    """The option, else SOURCE_DATE_EPOCH, else the kernel config's timestamp (stable per tree)."""
    if options.source_date_epoch is not None:
        return options.source_date_epoch
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        try:
            return int(env)
        except ValueError:
            raise UsageError(f"SOURCE_DATE_EPOCH is not an integer: {env!r}") from None
    return int((tree.config_path or tree.build_dir / ".config").stat().st_mtime)


def check_kernel_series(release: Release, target: Target, tree: KernelTree, allow: bool) -> None:
    """A release's kmods need that release's kernel series; refuse another unless allowed."""
    wanted = release.kernel_series_for(target)
    series = ".".join(tree.version.split(".")[:2])
    if series != wanted and not allow:
        raise UsageError(
            f"release {release.name} runs kernel {wanted} but the {tree.provider} tree is "
            f"{tree.version}: its kmods would not load on {release.name} devices; use that "
            "release's SDK, or pass --allow-kernel-mismatch to build anyway"
        )


def preflight(options: BuildOptions) -> None:
    """The checks that need no kernel tree, so that bad options fail before an SDK is fetched."""
    if options.engine not in ("direct", "sdk-make"):
        raise UsageError(f"unknown engine {options.engine!r} (expected direct or sdk-make)")
    lookup_target(options.target)
    release = lookup_release(options.release) if options.release else None
    catalog = load_catalog(options.feeds)
    for root in options.packages:
        catalog.get(root)
    formats = options.formats or ()
    scheme = version_scheme(release.version_scheme) if release else None
    if release and scheme and "apk" in formats and scheme.name != "r1":
        raise UsageError(
            f"release {release.name} versions ({scheme.kmod_version(release.kernel_series)}) "
            "are not valid apk versions; apk packages need a 24.10+ release scheme "
            "(use --format ipk)"
        )


def build(options: BuildOptions, progress: Progress | None = None) -> BuildResult:
    say = progress or (lambda _msg: None)
    if options.sdk is not None and options.sdk.is_file():
        from kmodkit.sdk import unpack_local_sdk

        options = replace(options, sdk=unpack_local_sdk(options.sdk, say))
    if options.engine not in ("direct", "sdk-make"):
        raise UsageError(f"unknown engine {options.engine!r} (expected direct or sdk-make)")
    if options.engine == "sdk-make" and options.sdk is None:
        raise UsageError("--engine sdk-make needs --sdk PATH (an extracted OpenWrt SDK)")
    target = lookup_target(options.target)
    release_given = lookup_release(options.release) if options.release else None
    catalog = load_catalog(options.feeds)
    for root in options.packages:
        catalog.get(root)  # unknown package: fail before any expensive step
    tree = open_tree(
        sdk=options.sdk,
        kernel_dir=options.kernel_dir,
        provision=True,
        progress=say,
        target=target,
        series=options.distro_series,
    )
    if tree.pkg_arch and tree.pkg_arch != target.pkg_arch:
        raise UsageError(
            f"kernel tree {tree.release} is for {tree.pkg_arch}, not target {target.name} "
            f"({target.pkg_arch}); use --sdk or --kernel-dir for that target"
        )
    if release_given is not None:
        check_kernel_series(release_given, target, tree, options.allow_kernel_mismatch)
    release = release_given or release_for_tree(tree)
    scheme = version_scheme(release.version_scheme)
    formats = options.formats or default_formats(tree, release, explicit=release_given is not None)
    for fmt in formats:
        if fmt not in FORMATS:
            raise UsageError(f"unknown package format {fmt!r} (expected ipk, apk or both)")
    if "apk" in formats and scheme.name != "r1":
        raise UsageError(
            f"release {release.name} versions ({scheme.kmod_version(tree.version)}) are not valid "
            "apk versions; apk packages need a 24.10+ release scheme (use --format ipk)"
        )
    closure = resolve_closure(
        catalog,
        list(options.packages),
        release=release,
        target=target,
        kernel_version=tree.version,
        kernel_config=tree.config,
        builtin_modules=tree.builtin_modules,
    )
    cache = resources.cache_dir()
    sweep_stale_under(cache, CACHE_SWEEP_DEPTH)  # debris of killed runs (dead owners only)
    where = Path(dist_name(release, tree, release_given is not None), target.name)
    dest = options.out / where
    logs = cache / "logs" / where
    logs.mkdir(parents=True, exist_ok=True)
    keys = load_or_create_keys(cache, options.usign_key, options.apk_key)

    with atomic_directory(dest) as work:
        ctx = BuildContext(
            closure=closure,
            tree=tree,
            release=release,
            target=target,
            scheme=scheme,
            formats=formats,
            epoch=source_date_epoch(options, tree),
            work=work,
            logs=logs,
            pack_cache=cache / "packs" if options.reuse_packs else None,
        )
        write_generated(ctx, work / "feed")
        results: dict[str, ModuleResult] = {}
        if options.engine == "sdk-make":
            outcomes, packed = _sdk_engine(ctx, options, cache / "sdk-feeds" / where, say)
        else:
            outcomes, packed, results = _direct_engine(ctx, options, say)
        packed += pack_kernel_package(ctx)
        say("indexing and signing")
        write_feeds(ctx, keys)
        write_build_report(
            work / "build-report.json", ctx=ctx, options=options, outcomes=outcomes, results=results
        )
        summary = ""
        if options.verify:
            say("verifying")
            summary = verify_output(ctx, keys)
        boot_report = None
        if options.boottest:
            from kmodkit.boottest.gate import boottest_gate

            say("boot test")
            boot_report = boottest_gate(work, label=str(where), logs=logs, progress=say)
    return BuildResult(
        out_dir=dest,
        release=release,
        target=target,
        tree=tree,
        formats=formats,
        packages=outcomes,
        keys=keys,
        compiled=sum(1 for r in results.values() if r.status == "compiled"),
        reused_modules=sum(1 for r in results.values() if r.status in ("cached", "prebuilt")),
        repacked=packed,
        verify_summary=summary,
        boottest=boot_report,
    )


def _direct_engine(
    ctx: BuildContext, options: BuildOptions, say: Progress
) -> tuple[list[PackageOutcome], int, dict[str, ModuleResult]]:
    """kmodkit obtains every module (prebuilt, built in or compiled) and packs the kmods."""
    say("obtaining modules")
    requests = [
        ModuleRequest(package=p.name, path=f.path, optional=f.optional)
        for p in ctx.closure.packages
        for f in p.files
    ]
    results = obtain_modules(ctx.tree, requests, jobs=options.jobs, log_dir=ctx.logs, progress=say)
    module_bytes = {r.path: r.ko.read_bytes() for r in results.values() if r.ko}
    added = modules_deps.missing_package_depends(ctx.closure, module_bytes, ctx.tree)
    say("packing")
    outcomes, packed = pack_kmods(ctx, module_bytes, added)
    return outcomes, packed, results


def _sdk_engine(
    ctx: BuildContext, options: BuildOptions, feed_dir: Path, say: Progress
) -> tuple[list[PackageOutcome], int]:
    """The SDK compiles and packs the generated feed, which it links from a stable place.

    The SDK's feeds.conf keeps pointing at ``feed_dir`` after the build, so later
    ``./scripts/feeds update`` runs in the user's SDK still find it.
    """
    assert options.sdk is not None  # checked before anything ran
    render_feed(
        ctx.closure, flavour="buildroot", out_dir=feed_dir, release=ctx.release, target=ctx.target
    )
    names = [p.name for p in ctx.closure.packages]
    result = run_sdk_make(
        options.sdk,
        feed_dir=feed_dir.resolve(),
        packages=names,
        seed_config=render_config_seed(ctx.closure, release=ctx.release, target=ctx.target),
        board=ctx.target.board,
        subtarget=ctx.target.subtarget,
        jobs=options.jobs or os.cpu_count() or 1,
        log_dir=ctx.logs,
        progress=say,
    )
    for artifact in result.artifacts:
        fmt = "apk" if artifact.suffix == ".apk" else "ipk"
        atomic_write_bytes(ctx.work / fmt / artifact.name, artifact.read_bytes())
    outcomes = outcomes_from_artifacts(names, result.artifacts)
    return outcomes, len(outcomes)
