"""`invoke build`: kernel tree -> modules -> packages -> signed feeds -> verification.

Everything is produced in a temporary directory next to the destination and renamed into
place only after verification passed, so a failed build leaves dist/ as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit import resources
from kmodkit.build import modules_deps
from kmodkit.build.keys import BuildKeys, load_or_create_keys
from kmodkit.build.packing import PackageFormat, pack
from kmodkit.build.report import write_build_report
from kmodkit.build.scheme import version_scheme
from kmodkit.build.sdk_make import run_sdk_make
from kmodkit.build.stage import (
    StagedFile,
    StagedSymlink,
    kernel_package,
    kmod_package,
    stage_entries,
)
from kmodkit.catalog import Release, Target, load_catalog, lookup_release, lookup_target
from kmodkit.errors import BuildError, UsageError
from kmodkit.formats import apk_index, opkg_feed
from kmodkit.formats.model import PackageMeta
from kmodkit.fsutil import atomic_directory, atomic_write_bytes, atomic_write_text
from kmodkit.kernel import KernelTree, open_tree
from kmodkit.kernel.kbuild import ModuleRequest, ModuleResult, obtain_modules
from kmodkit.render import render_config_seed, render_feed, render_kernel_fragment
from kmodkit.resolve import Closure, resolve_closure

Progress = Callable[[str], None]
FORMATS: tuple[PackageFormat, ...] = ("ipk", "apk")


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
    reuse_packs: bool = True


@dataclass
class PackageOutcome:
    name: str
    version: str
    modules: list[str]
    statuses: dict[str, str]
    artifacts: dict[str, str] = field(default_factory=dict)  # format -> relative path
    size: int = 0
    status: str = "built"  # built | empty
    reused: bool = True
    added_depends: list[str] = field(default_factory=list)


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


def choose_release(name: str | None, tree: KernelTree) -> Release:
    """An explicit release wins; the distro kernel follows 24.10; an SDK its kernel series."""
    if name:
        return lookup_release(name)
    if tree.provider == "distro":
        return lookup_release("24.10")
    series = ".".join(tree.version.split(".")[:2])
    from kmodkit.catalog import all_releases

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


def default_epoch(tree: KernelTree) -> int:
    """SOURCE_DATE_EPOCH, else the kernel config's own timestamp: stable for a given tree."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        try:
            return int(env)
        except ValueError:
            raise UsageError(f"SOURCE_DATE_EPOCH is not an integer: {env!r}") from None
    return int((tree.config_path or tree.build_dir / ".config").stat().st_mtime)


def build(options: BuildOptions, progress: Progress | None = None) -> BuildResult:
    say = progress or (lambda _msg: None)
    if options.engine not in ("direct", "sdk-make"):
        raise UsageError(f"unknown engine {options.engine!r} (expected direct or sdk-make)")
    if options.engine == "sdk-make" and options.sdk is None:
        raise UsageError("--engine sdk-make needs --sdk PATH (an extracted OpenWrt SDK)")
    target = lookup_target(options.target)
    release_given = lookup_release(options.release) if options.release else None
    catalog = load_catalog(options.feeds)
    for root in options.packages:
        catalog.get(root)  # unknown package: fail before any expensive step
    tree = open_tree(sdk=options.sdk, kernel_dir=options.kernel_dir, provision=True, progress=say)
    if tree.pkg_arch and tree.pkg_arch != target.pkg_arch:
        raise UsageError(
            f"kernel tree {tree.release} is for {tree.pkg_arch}, not target {target.name} "
            f"({target.pkg_arch}); use --sdk or --kernel-dir for that target"
        )
    release = release_given or choose_release(None, tree)
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
    epoch = (
        options.source_date_epoch if options.source_date_epoch is not None else default_epoch(tree)
    )
    cache = resources.cache_dir()
    dest = options.out / dist_name(release, tree, release_given is not None) / target.name
    logs = cache / "logs" / dest.relative_to(options.out)
    logs.mkdir(parents=True, exist_ok=True)
    keys = load_or_create_keys(cache, options.usign_key, options.apk_key)

    with atomic_directory(dest) as work:
        if options.engine == "sdk-make":
            results: dict[str, ModuleResult] = {}
            outcomes, repacked = _sdk_make(options, closure, release, target, tree, work, logs, say)
        else:
            say("obtaining modules")
            requests = [
                ModuleRequest(package=p.name, path=f.path, optional=f.optional)
                for p in closure.packages
                for f in p.files
            ]
            results = obtain_modules(tree, requests, jobs=options.jobs, log_dir=logs, progress=say)
            module_bytes = {r.path: r.ko.read_bytes() for r in results.values() if r.ko}
            added = modules_deps.missing_package_depends(closure, results, module_bytes, tree)
            say("packing")
            outcomes, repacked = _pack_all(
                closure,
                results,
                module_bytes,
                added,
                tree,
                release,
                target,
                scheme.name,
                formats,
                epoch,
                work,
                cache if options.reuse_packs else None,
            )
            _write_generated(work, closure, release, target, tree)
        say("indexing and signing")
        _write_feeds(work, formats, keys)
        _write_keys(work, keys)
        write_build_report(
            work / "build-report.json",
            options=options,
            release=release,
            target=target,
            tree=tree,
            epoch=epoch,
            outcomes=outcomes,
            results=results,
            formats=formats,
        )
        summary = ""
        if options.verify:
            say("verifying")
            summary = _verify(work, tree, release, target, logs)
    compiled = sum(1 for r in results.values() if r.status == "compiled")
    reused = sum(1 for r in results.values() if r.status in ("cached", "prebuilt"))
    return BuildResult(
        out_dir=dest,
        release=release,
        target=target,
        tree=tree,
        formats=formats,
        packages=outcomes,
        keys=keys,
        compiled=compiled,
        reused_modules=reused,
        repacked=repacked,
        verify_summary=summary,
    )


def _kmod_meta(
    pkg_name: str,
    description: str,
    depends: Sequence[str],
    release: Release,
    version: str,
    arch: str,
    epoch: int,
) -> PackageMeta:
    return PackageMeta(
        name=pkg_name,
        version=version,
        arch=arch,
        description=description,
        depends=tuple(depends),
        license="GPL-2.0",
        section="kernel",
        source=release.source,
        source_name=release.source_name_for(pkg_name),
        source_date_epoch=epoch,
    )


def _pack_all(
    closure: Closure,
    results: dict[str, ModuleResult],
    module_bytes: dict[str, bytes],
    added: dict[str, list[str]],
    tree: KernelTree,
    release: Release,
    target: Target,
    scheme_name: str,
    formats: Sequence[PackageFormat],
    epoch: int,
    work: Path,
    cache: Path | None,
) -> tuple[list[PackageOutcome], int]:
    scheme = version_scheme(scheme_name)
    version = scheme.kmod_version(tree.version)
    kernel_dep = scheme.kernel_dependency(tree.version, tree.vermagic_hash)
    arch = target.pkg_arch
    packs = cache / "packs" if cache is not None else None
    outcomes: list[PackageOutcome] = []
    repacked = 0
    shipped = {Path(path).name.removesuffix(".ko") for path in module_bytes}
    for pkg in closure.packages:
        mods = {
            Path(f.path).name: module_bytes[f.path] for f in pkg.files if f.path in module_bytes
        }
        files = [StagedFile(x.path, x.data, x.mode) for x in pkg.extra_files]
        links: list[StagedSymlink] = []
        if pkg.autoload is not None and pkg.present_autoload_modules(shipped):
            content = pkg.render_modules_d(shipped)
            files.append(StagedFile(f"/etc/modules.d/{pkg.autoload.filename}", content.encode()))
            if pkg.autoload.boot:
                links.append(
                    StagedSymlink(
                        f"/etc/modules-boot.d/{pkg.autoload.filename}",
                        f"../modules.d/{pkg.autoload.filename}",
                    )
                )
        entries = stage_entries(mods, tree.release, files, links)
        depends = [kernel_dep, *pkg.depends, *added.get(pkg.name, [])]
        meta = _kmod_meta(pkg.name, pkg.description, depends, release, version, arch, epoch)
        outcome = PackageOutcome(
            name=pkg.name,
            version=version,
            modules=sorted(mods),
            statuses={f.path: results[f.path].status for f in pkg.files if f.path in results},
            status="built" if mods else "empty",
            added_depends=added.get(pkg.name, []),
        )
        for fmt in formats:
            staged = kmod_package(meta, entries)
            res = pack(
                staged,
                fmt,
                source_date_epoch=epoch,
                installed_size=release.ipk_installed_size,
                cache=packs,
            )
            atomic_write_bytes(work / fmt / res.filename, res.data)
            outcome.artifacts[fmt] = f"{fmt}/{res.filename}"
            outcome.size += len(res.data)
            outcome.reused = outcome.reused and res.reused
            repacked += 0 if res.reused else 1
        outcomes.append(outcome)
    kernel_meta = PackageMeta(
        name="kernel",
        version=scheme.kernel_package_version(tree.version, tree.vermagic_hash),
        arch=arch,
        description="Virtual kernel package",
        license="GPL-2.0",
        section="sys",
        source=release.source,
        source_name="kernel",
        source_date_epoch=epoch,
    )
    for fmt in formats:
        res = pack(
            kernel_package(kernel_meta),
            fmt,
            source_date_epoch=epoch,
            installed_size=release.ipk_installed_size,
            cache=packs,
        )
        atomic_write_bytes(work / "kernel" / res.filename, res.data)
        repacked += 0 if res.reused else 1
    return outcomes, repacked


def _write_feeds(work: Path, formats: Sequence[PackageFormat], keys: BuildKeys) -> None:
    if "ipk" in formats:
        ipks = [(p.name, p.read_bytes()) for p in sorted((work / "ipk").glob("*.ipk"))]
        opkg_feed.write_opkg_feed(work / "ipk", ipks, keys.usign_secret)
    if "apk" in formats:
        apks = [(p.name, p.read_bytes()) for p in sorted((work / "apk").glob("*.apk"))]
        index = apk_index.build_index(apks, signing_key=keys.apk_private)
        atomic_write_bytes(work / "apk" / "packages.adb", index)


def _sdk_make(
    options: BuildOptions,
    closure: Closure,
    release: Release,
    target: Target,
    tree: KernelTree,
    work: Path,
    logs: Path,
    say: Progress,
) -> tuple[list[PackageOutcome], int]:
    """Let the SDK compile and pack the generated feed; kmodkit indexes, signs and verifies."""
    assert options.sdk is not None  # checked before anything ran
    _write_generated(work, closure, release, target, tree)
    names = [p.name for p in closure.packages]
    try:
        result = run_sdk_make(
            options.sdk,
            feed_dir=(work / "feed").resolve(),
            packages=names,
            seed_config=render_config_seed(closure, release=release, target=target),
            board=target.board,
            subtarget=target.subtarget,
            jobs=options.jobs or os.cpu_count() or 1,
            log_dir=logs,
            progress=say,
        )
    except BuildError as exc:
        if "\n" not in exc.message:
            raise
        raise BuildError(_one_line(exc.message), where=exc.where, log=exc.log) from exc
    outcomes = []
    for name, artifact in zip(names, result.artifacts, strict=True):
        fmt = "apk" if artifact.suffix == ".apk" else "ipk"
        data = artifact.read_bytes()
        atomic_write_bytes(work / fmt / artifact.name, data)
        outcomes.append(
            PackageOutcome(
                name=name,
                version="",
                modules=[],
                statuses={},
                size=len(data),
                artifacts={fmt: f"{fmt}/{artifact.name}"},
                reused=False,
            )
        )
    return outcomes, len(outcomes)


def _one_line(message: str) -> str:
    """Errors are one line (the CLI prints them once): fold an SDK step's log tail like kbuild's."""
    head, *rest = message.splitlines()
    lines = [line.strip() for line in rest if line.strip() and not line.startswith("--- ")]
    return f"{head}; last lines: {' | '.join(lines)}" if lines else head


def _write_generated(
    work: Path, closure: Closure, release: Release, target: Target, tree: KernelTree
) -> None:
    render_feed(closure, flavour="buildroot", out_dir=work / "feed", release=release, target=target)
    atomic_write_text(
        work / "kconfig" / f"kernel-{tree.release}.config",
        render_kernel_fragment(closure, release=release, target=target),
    )


def _write_keys(work: Path, keys: BuildKeys) -> None:
    atomic_write_text(work / "keys" / keys.usign_key_id, keys.usign_public_text)
    atomic_write_bytes(work / "keys" / f"{keys.apk_key_id}.pem", keys.apk_public_pem)


def _verify(work: Path, tree: KernelTree, release: Release, target: Target, logs: Path) -> str:
    from kmodkit.verify import VerifyOptions, verify_paths
    from kmodkit.verify.report import write_json

    report = verify_paths(
        [work],
        options=VerifyOptions(
            kernel=tree, release=release.name, target=target.name, keys_dir=work / "keys"
        ),
    )
    write_json(report, logs / "verify.json")
    if not report.ok(strict=True):
        first = "; ".join(r.one_line() for r in report.failures()[:3])
        raise BuildError(
            f"verification failed ({report.failed} failed, {report.warnings} warnings): {first}",
            log=str(logs / "verify.json"),
        )
    return f"{report.passed} passed, {report.failed} failed"
