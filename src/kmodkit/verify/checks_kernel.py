"""Kernel ABI checks: the kernel dependency, every module's vermagic and install path.

Against a given kernel (--kernel-dir/--sdk, or the kernel package of an --index feed) when
there is one; otherwise the packages of one feed must agree with each other.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from kmodkit.errors import KmodkitError
from kmodkit.kernel.modinfo import ModInfo, read_modinfo
from kmodkit.kernel.symvers import read_symvers
from kmodkit.kernel.tree import KernelTree
from kmodkit.verify.model import Findings
from kmodkit.verify.views import KernelRef, PackageView, module_name, parse_kernel_dep_version

ModuleMap = dict[str, dict[str, ModInfo]]  # artifact -> {path: modinfo}


def kernel_from_tree(sdk: Path | None, kernel_dir: Path | None) -> KernelRef:
    """Open the kernel the modules must match (KernelTreeError when it cannot be read)."""
    from kmodkit.kernel import open_tree

    return kernel_ref(open_tree(sdk=sdk, kernel_dir=kernel_dir, provision=False))


def kernel_ref(tree: KernelTree) -> KernelRef:
    """What verify needs of an opened kernel tree (reads its Module.symvers)."""
    exported: set[str] = set()
    owners: dict[str, str] = {}
    for symbol, export in read_symvers(tree.symvers_path).items():
        if export.module in ("vmlinux", "") or export.module.endswith("/vmlinux"):
            exported.add(symbol)
        else:
            owners[symbol] = module_name(export.module)
    return KernelRef(
        source=f"kernel {tree.release} ({tree.build_dir})",
        release=tree.release,
        version=tree.version,
        vermagic=tree.vermagic or None,
        vermagic_hash=tree.vermagic_hash or None,
        # no vmlinux line at all (ath79: no vmlinux was built): unknown, not "exports nothing"
        exported=exported or None,
        module_exports=owners,
        builtin={module_name(p) for p in tree.builtin_modules},
    )


def kernel_from_package(version: str, source: str) -> KernelRef | None:
    """The kernel named by a feed's virtual ``kernel`` package version, if it parses."""
    parsed = parse_kernel_dep_version(version)
    if parsed is None:
        return None
    return KernelRef(source=source, version=parsed.version, vermagic_hash=parsed.hash)


def read_modules(views: Sequence[PackageView], findings: Findings) -> ModuleMap:
    """Parse every .ko once; unreadable ones fail ``modules.modinfo``."""
    out: ModuleMap = {}
    cache: dict[bytes, ModInfo] = {}  # the same .ko in an ipk and an apk is parsed once
    for view in views:
        mods: dict[str, ModInfo] = {}
        bad = 0
        for path, data in sorted(view.files.items()):
            if not path.endswith(".ko"):
                continue
            key = hashlib.sha256(data).digest()
            try:
                if key not in cache:
                    cache[key] = read_modinfo(data, f"{view.artifact}:/{path}")
                mods[path] = cache[key]
            except KmodkitError as exc:
                bad += 1
                findings.fail("modules.modinfo", view.artifact, str(exc))
        if mods and not bad:
            findings.ok("modules.modinfo", view.artifact, f"{len(mods)} modules read")
        out[view.artifact] = mods
    return out


def kernel_dep(view: PackageView) -> str | None:
    for group in view.depends:
        for dep in group:
            if dep.name == "kernel" and dep.version:
                return dep.version
    return None


def check_kernel(
    views: Sequence[PackageView],
    modules: ModuleMap,
    kernel: KernelRef | None,
    findings: Findings,
) -> None:
    """kernel.dependency, kernel.vermagic, kernel.module-path (and kernel.consistency)."""
    kmods = [v for v in views if v.name.startswith("kmod-") or modules.get(v.artifact)]
    for view in kmods:
        _check_dependency(view, kernel, findings)
        for path, info in sorted(modules.get(view.artifact, {}).items()):
            _check_module(view, path, info, kernel, findings)
    if kernel is None or kernel.vermagic is None or kernel.vermagic_hash is None:
        _check_consistency(kmods, modules, findings)


def _check_dependency(view: PackageView, kernel: KernelRef | None, findings: Findings) -> None:
    art = view.artifact
    dep = kernel_dep(view)
    if dep is None:
        if view.has_files and view.files:
            findings.fail("kernel.dependency", art, "no versioned 'kernel' dependency")
        return
    parsed = parse_kernel_dep_version(dep)
    if parsed is None:
        findings.fail("kernel.dependency", art, f"kernel dependency {dep!r} is not <kver>+hash")
        return
    if kernel is None or (kernel.version is None and kernel.vermagic_hash is None):
        findings.ok("kernel.dependency", art, f"kernel {dep} (no kernel given to compare)")
        return
    problems = []
    if kernel.version and parsed.version != kernel.version:
        problems.append(f"kernel {parsed.version}, but {kernel.source} is {kernel.version}")
    if kernel.vermagic_hash and parsed.hash != kernel.vermagic_hash:
        problems.append(
            f"kernel hash {parsed.hash}, but {kernel.source} has {kernel.vermagic_hash}"
        )
    for p in problems:
        findings.fail("kernel.dependency", art, f"depends on {dep}: {p}")
    if not problems:
        findings.ok("kernel.dependency", art, f"kernel {dep} matches {kernel.source}")


def _check_module(
    view: PackageView, path: str, info: ModInfo, kernel: KernelRef | None, findings: Findings
) -> None:
    art = view.artifact
    where = f"/{path}"
    if not info.vermagic:
        findings.fail("kernel.vermagic", art, f"{where} has no vermagic")
    elif kernel is not None and kernel.vermagic is not None:
        if info.vermagic == kernel.vermagic:
            findings.ok("kernel.vermagic", art, f"vermagic matches {kernel.source}")
        else:
            findings.fail(
                "kernel.vermagic",
                art,
                f"{where} vermagic {info.vermagic!r} != kernel's {kernel.vermagic!r}",
            )
    release = kernel.release if kernel is not None and kernel.release else None
    release = release or (info.vermagic.split()[0] if info.vermagic else None)
    if release is None:
        return
    if path.startswith(f"lib/modules/{release}/"):
        findings.ok("kernel.module-path", art, f"modules under /lib/modules/{release}/")
    else:
        findings.fail("kernel.module-path", art, f"{where} is not under /lib/modules/{release}/")


def _check_consistency(
    kmods: Sequence[PackageView], modules: ModuleMap, findings: Findings
) -> None:
    deps = Counter(d for v in kmods if (d := kernel_dep(v)) is not None)
    magics = Counter(i.vermagic for v in kmods for i in modules.get(v.artifact, {}).values())
    dep_main = deps.most_common(1)[0][0] if deps else None
    magic_main = magics.most_common(1)[0][0] if magics else None
    for view in kmods:
        problems = []
        dep = kernel_dep(view)
        if dep is not None and dep_main is not None and dep != dep_main:
            problems.append(f"kernel dependency {dep} differs from the feed's {dep_main}")
        for path, info in sorted(modules.get(view.artifact, {}).items()):
            if magic_main is not None and info.vermagic != magic_main:
                problems.append(f"/{path} vermagic {info.vermagic!r} != the feed's {magic_main!r}")
        for p in problems:
            findings.fail("kernel.consistency", view.artifact, p)
        if not problems and (dep is not None or modules.get(view.artifact)):
            findings.ok("kernel.consistency", view.artifact, "agrees with the other packages")
