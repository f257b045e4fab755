"""``verify_paths``: discover inputs, run every check, return one report (no printing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.errors import KmodkitError
from kmodkit.formats.gzipio import gzip_decompress
from kmodkit.limits import MAX_INDEX_FILE_BYTES, LimitExceeded, packages_stanzas_within_limit
from kmodkit.safeio import read_regular_file
from kmodkit.verify import checks_feed as feed
from kmodkit.verify.bases import Base, load_base
from kmodkit.verify.checks_apk import check_apk_feed
from kmodkit.verify.checks_kernel import (
    ModuleMap,
    check_kernel,
    kernel_dep,
    kernel_from_package,
    kernel_from_tree,
    kernel_ref,
    read_modules,
)
from kmodkit.verify.checks_meta import NOARCH
from kmodkit.verify.checks_modules import Universe, check_modules
from kmodkit.verify.discover import FeedDir, discover
from kmodkit.verify.keys import load_keys
from kmodkit.verify.model import Findings, VerifyOptions, VerifyReport
from kmodkit.verify.reading import read_package
from kmodkit.verify.views import KernelRef, Manager, PackageView, parse_kernel_dep_version


@dataclass
class _Group:
    """Packages judged together for kernel consistency: one feed, or all loose files."""

    manager: Manager
    views: list[PackageView] = field(default_factory=list)


def verify_paths(paths: Sequence[Path], *, options: VerifyOptions) -> VerifyReport:
    """Verify packages, feeds and dist trees; bad input becomes failed checks, never a crash."""
    findings = Findings()
    report = VerifyReport()
    inputs = discover([Path(p) for p in paths])
    for where, why in inputs.unreadable:
        findings.fail("input.unreadable", where, why)
    keys = load_keys(options.trusted_keys_dir, inputs, findings, report.notes, roots=paths)
    kernel = _load_kernel(options, findings)
    bases: list[Base] = [b for spec in options.index if (b := load_base(spec, findings))]

    groups: list[_Group] = []
    loose = {"opkg": _Group("opkg"), "apk": _Group("apk")}
    for path in inputs.packages:
        view = read_package(path, str(path), findings, options)
        if view is not None:
            view.origin = "loose"
            loose[view.manager].views.append(view)
    groups += [g for g in loose.values() if g.views]
    for fd in inputs.feeds:
        groups.append(_check_feed(fd, keys, bases, loose[fd.kind].views, kernel, findings, options))

    for manager in ("opkg", "apk"):
        mine = [g for g in groups if g.manager == manager]
        if not mine:
            continue
        base_views = [v for b in bases if b.manager == manager for v in b.views]
        views = [v for g in mine for v in g.views]
        modules: ModuleMap = _modules(views, findings)
        modules.update(_modules(base_views, Findings()))  # references, not judged here
        ref = kernel or _kernel_from_bases(bases, manager)
        for g in mine:
            check_kernel(g.views, modules, ref, findings)
        for pool, judged in _arch_sets(views):
            bases_here = [v for v in base_views if _same_arch(v, pool)]
            universe = Universe(pool + bases_here, modules)
            check_modules([v for v in judged if v.name != "kernel"], universe, ref, findings)
    report.results = findings.results()
    return report


def _arch_sets(views: list[PackageView]) -> list[tuple[list[PackageView], list[PackageView]]]:
    """(packages dependencies may resolve to, packages judged) per architecture.

    A release tree holds feeds of several targets: a package's modules can only come from
    packages of its own architecture (or noarch ones, which are judged once, with the first).
    """
    arches = sorted({v.arch for v in views if v.arch and v.arch not in NOARCH})
    if len(arches) <= 1:
        return [(views, views)]
    sets = []
    for i, arch in enumerate(arches):
        pool = [v for v in views if v.arch == arch or _is_noarch(v)]
        judged = [v for v in pool if v.arch == arch or (i == 0 and _is_noarch(v))]
        sets.append((pool, judged))
    return sets


def _is_noarch(view: PackageView) -> bool:
    return not view.arch or view.arch in NOARCH


def _same_arch(view: PackageView, pool: Sequence[PackageView]) -> bool:
    return _is_noarch(view) or any(v.arch == view.arch for v in pool)


def _modules(views: Sequence[PackageView], findings: Findings) -> ModuleMap:
    """The modinfo read when each package was read (its file data is gone by now)."""
    out: ModuleMap = {}
    for view in views:
        if view.modules is not None:
            out[view.artifact] = view.modules
        else:
            out.update(read_modules([view], findings))
    return out


def _load_kernel(options: VerifyOptions, findings: Findings) -> KernelRef | None:
    if options.kernel is not None:
        try:
            return kernel_ref(options.kernel)
        except KmodkitError as exc:
            findings.fail("input.unreadable", str(options.kernel.build_dir), str(exc))
            return None
    if options.kernel_dir is None and options.sdk is None:
        return None
    where = str(options.sdk or options.kernel_dir)
    try:
        return kernel_from_tree(options.sdk, options.kernel_dir)
    except KmodkitError as exc:
        findings.fail("input.unreadable", where, f"kernel unusable: {exc}")
        return None


def _kernel_from_bases(bases: Sequence[Base], manager: str) -> KernelRef | None:
    for base in bases:
        if base.manager != manager:
            continue
        for view in base.views:
            if view.name == "kernel":
                ref = kernel_from_package(view.version, f"the kernel of {base.source}")
                if ref is not None:
                    return ref
    return None


def _check_feed(
    fd: FeedDir,
    keys: feed.Keys,
    bases: Sequence[Base],
    extra: Sequence[PackageView],
    kernel: KernelRef | None,
    findings: Findings,
    options: VerifyOptions,
) -> _Group:
    group = _Group(fd.kind)
    files: dict[str, PackageView | None] = {}
    for path in fd.files:
        view = read_package(path, str(path), findings, options)
        if view is not None:
            view.origin = "feed"
            group.views.append(view)
        files[path.name] = view
    _check_feed_arch(group.views, findings)
    kernels = [v for v in [*group.views, *extra] if v.name == "kernel"]
    base_entries = [e for b in bases if b.manager == fd.kind for e in b.entries]
    base_entries += _kernel_entries(group.views, kernel)
    if fd.kind == "opkg":
        _check_opkg_index(fd, files, keys, base_entries, kernels, findings)
    else:
        check_apk_feed(fd, files, keys, base_entries, kernels, findings)
    return group


def _check_feed_arch(views: Sequence[PackageView], findings: Findings) -> None:
    """The packages of one feed are for one architecture (noarch/all aside)."""
    arches = Counter(v.arch for v in views if v.arch not in NOARCH)
    if len(arches) < 2:
        return
    main = arches.most_common(1)[0][0]
    for view in views:
        if view.arch not in NOARCH and view.arch != main:
            findings.fail("meta.arch", view.artifact, f"arch {view.arch}, the feed's is {main}")


def _kernel_entries(
    views: Sequence[PackageView], kernel: KernelRef | None
) -> list[feed.IndexEntry]:
    """The given kernel satisfies exactly the ``kernel`` versions naming its version and hash."""
    if kernel is None or kernel.version is None or kernel.vermagic_hash is None:
        return []
    out = []
    for version in sorted({d for v in views if (d := kernel_dep(v)) is not None}):
        parsed = parse_kernel_dep_version(version)
        if parsed and (parsed.version, parsed.hash) == (kernel.version, kernel.vermagic_hash):
            out.append(feed.IndexEntry("kernel", version))
    return out


def _check_opkg_index(
    fd: FeedDir,
    files: dict[str, PackageView | None],
    keys: feed.Keys,
    base_entries: list[feed.IndexEntry],
    kernels: list[PackageView],
    findings: Findings,
) -> None:
    index_path = fd.path / "Packages"
    art = str(index_path)
    try:
        raw = read_regular_file(index_path, MAX_INDEX_FILE_BYTES, "MAX_INDEX_FILE_BYTES")
        packages_stanzas_within_limit(raw, art)
        entries = feed.parse_packages_index(raw.decode("utf-8"), art)
    except OSError as exc:
        findings.fail("input.unreadable", art, f"cannot read: {exc.strerror or exc}")
        return
    except UnicodeDecodeError as exc:
        findings.fail("feed.index", art, f"not UTF-8 at byte {exc.start}")
        return
    except KmodkitError as exc:
        findings.fail("feed.index", art, str(exc))
        return
    findings.ok("feed.index", art, f"{len(entries)} entries")
    _check_packages_gz(fd.path / "Packages.gz", raw, art, findings)
    feed.check_entries_against_files("opkg", entries, files, art, findings)
    feed.check_no_kernel_package(entries, art, findings)
    providers = entries + base_entries + [feed.entry_from_view(k) for k in kernels]
    feed.check_feed_deps("opkg", entries, providers, art, findings)
    feed.check_usign(raw, fd.path / "Packages.sig", keys, art, findings)


def _check_packages_gz(path: Path, raw: bytes, art: str, findings: Findings) -> None:
    """opkg may fetch Packages.gz instead: it must hold exactly the signed Packages.

    So it never needs to inflate past the size of Packages: a gzip bomb stops right there.
    """
    if not path.exists() and not path.is_symlink():
        return
    try:
        packed = read_regular_file(path, MAX_INDEX_FILE_BYTES, "MAX_INDEX_FILE_BYTES")
    except OSError as exc:
        findings.fail("input.unreadable", str(path), f"cannot read: {exc.strerror or exc}")
        return
    try:
        unpacked, _header = gzip_decompress(packed, str(path), max_size=len(raw))
    except LimitExceeded:
        why = f"Packages.gz inflates past the {len(raw)} bytes of Packages"
        findings.fail("feed.index", art, f"{why}: it does not hold the same bytes")
        return
    except KmodkitError as exc:
        findings.fail("feed.index", art, f"Packages.gz does not decompress: {exc}")
        return
    if unpacked != raw:
        findings.fail("feed.index", art, "Packages.gz does not hold the same bytes as Packages")
