"""Module dependency, symbol and autoload checks, like depmod/modpost would judge an install.

Each package is judged with its dependency closure (resolved by name or Provides in the
universe: the feed, the --index bases and the kernel package): every modinfo ``depends=``
module and every undefined symbol must come from the package, that closure or the kernel.
When a module elsewhere in the universe would satisfy it, the message names the Depends the
package should have declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kmodkit.kernel.modinfo import ModInfo
from kmodkit.verify.checks_kernel import ModuleMap
from kmodkit.verify.model import Findings
from kmodkit.verify.views import KernelRef, PackageView, module_name

# symbols a module object may leave undefined that no export table lists
_IGNORED_SYMBOLS = frozenset({"__this_module", "_GLOBAL_OFFSET_TABLE_"})
MODULES_D = "etc/modules.d/"


@dataclass
class Universe:
    """Every package dependencies may resolve to, with the modules and exports each ships."""

    views: list[PackageView]
    modules: ModuleMap
    by_name: dict[str, list[PackageView]] = field(default_factory=dict)
    module_owner: dict[str, str] = field(default_factory=dict)  # module -> package name
    symbol_owner: dict[str, str] = field(default_factory=dict)  # symbol -> package name

    def __post_init__(self) -> None:
        for view in self.views:
            for name in (view.name, *(p.split("=")[0].strip() for p in view.provides)):
                self.by_name.setdefault(name, []).append(view)
            for path, info in self.modules.get(view.artifact, {}).items():
                self.module_owner.setdefault(module_name(path), view.name)
                for sym in info.exported:
                    self.symbol_owner.setdefault(sym, view.name)

    def closure(self, view: PackageView) -> list[PackageView]:
        """The package and everything its Depends pull in (first resolvable alternative)."""
        seen = {view.artifact}
        order = [view]
        queue = [view]
        while queue:
            current = queue.pop()
            for group in current.depends:
                for dep in group:
                    found = self.by_name.get(dep.name)
                    if found:
                        target = found[0]
                        if target.artifact not in seen:
                            seen.add(target.artifact)
                            order.append(target)
                            queue.append(target)
                        break
        return order


def check_modules(
    views: Sequence[PackageView], universe: Universe, kernel: KernelRef | None, findings: Findings
) -> None:
    for view in views:
        own = universe.modules.get(view.artifact, {})
        lists = autoload_lists(view)
        if not own and not lists:
            continue  # nothing to resolve: skip the closure walk (feeds have thousands)
        closure = universe.closure(view)
        mods: dict[str, ModInfo] = {}
        for member in closure:
            for path, info in universe.modules.get(member.artifact, {}).items():
                mods.setdefault(module_name(path), info)
        if own:
            _check_depends(view, own, mods, universe, kernel, findings)
            _check_symbols(view, own, mods, universe, kernel, findings)
        if lists:
            shipped = {
                module_name(path)
                for member in closure
                for path in member.files
                if path.endswith(".ko")
            }
            _check_autoload(view, lists, closure, mods, shipped, universe, kernel, findings)


def _hint(name: str | None, view: PackageView) -> str:
    return f": add '{name}' to Depends" if name and name != view.name else ""


def _check_depends(
    view: PackageView,
    own: dict[str, ModInfo],
    available: dict[str, ModInfo],
    universe: Universe,
    kernel: KernelRef | None,
    findings: Findings,
) -> None:
    art = view.artifact
    builtin = kernel.builtin if kernel is not None and kernel.builtin else set()
    problems = 0
    for path, info in sorted(own.items()):
        for dep in info.depends:
            name = module_name(dep)
            if name in available or name in builtin:
                continue
            owner = universe.module_owner.get(name)
            problems += 1
            if owner is not None:
                findings.fail(
                    "modules.depends",
                    art,
                    f"/{path} needs module {name} from {owner}, which Depends do not pull in"
                    + _hint(owner, view),
                )
            elif kernel is not None and kernel.exported is not None:
                findings.fail(
                    "modules.depends",
                    art,
                    f"/{path} needs module {name}: no package ships it and "
                    f"{kernel.source} does not build it in",
                )
            else:
                findings.warn(
                    "modules.depends",
                    art,
                    f"/{path} needs module {name}, shipped by no known package "
                    "(built-in? pass --kernel-dir/--sdk to decide)",
                )
    if not problems:
        findings.ok("modules.depends", art, "every modinfo dependency is provided")


def _check_symbols(
    view: PackageView,
    own: dict[str, ModInfo],
    available: dict[str, ModInfo],
    universe: Universe,
    kernel: KernelRef | None,
    findings: Findings,
) -> None:
    art = view.artifact
    exported_here = {s for info in available.values() for s in info.exported}
    kernel_exports = kernel.exported if kernel is not None else None
    unknown: list[str] = []
    # (module path, why) -> symbols, so one line per module and cause, like modpost
    missing: dict[tuple[str, str], list[str]] = {}
    for path, info in sorted(own.items()):
        for sym in sorted(info.undefined - _IGNORED_SYMBOLS):
            if sym in exported_here or (kernel_exports is not None and sym in kernel_exports):
                continue
            owner = universe.symbol_owner.get(sym)
            if owner is not None:
                why = f"exported by {owner} outside its closure{_hint(owner, view)}"
            elif kernel is not None and sym in kernel.module_exports:
                why = (
                    f"exported by kernel module {kernel.module_exports[sym]} "
                    "that no package in its closure ships"
                )
            elif kernel is not None and kernel_exports is not None:
                why = f"exported by neither {kernel.source} nor any module"
            else:
                unknown.append(sym)
                continue
            missing.setdefault((path, why), []).append(sym)
    for (path, why), syms in missing.items():
        shown = ", ".join(syms[:5]) + (f" and {len(syms) - 5} more" if len(syms) > 5 else "")
        findings.fail("modules.symbols", art, f"/{path} uses {shown}: {why}")
    if missing:
        return
    if unknown:
        findings.ok(
            "modules.symbols",
            art,
            f"{len(unknown)} symbols assumed from the kernel (no Module.symvers to check)",
        )
    else:
        findings.ok("modules.symbols", art, "every undefined symbol is exported")


def autoload_lists(view: PackageView) -> dict[str, list[str]]:
    """``/etc/modules.d/<file>`` -> the module names it loads, in order."""
    out: dict[str, list[str]] = {}
    for path, data in sorted(view.files.items()):
        if not path.startswith(MODULES_D) or "/" in path[len(MODULES_D) :]:
            continue
        names = []
        for line in data.decode("utf-8", "replace").splitlines():
            words = line.split()
            if words and not words[0].startswith("#"):
                names.append(module_name(words[0]))
        out[path[len(MODULES_D) :]] = names
    return out


def _check_autoload(
    view: PackageView,
    lists: dict[str, list[str]],
    closure: list[PackageView],
    available: dict[str, ModInfo],
    shipped: set[str],
    universe: Universe,
    kernel: KernelRef | None,
    findings: Findings,
) -> None:
    art = view.artifact
    builtin = kernel.builtin if kernel is not None and kernel.builtin else set()
    bad = 0
    for file, names in lists.items():
        for name in names:
            if name in shipped or name in available or name in builtin:
                continue
            bad += 1
            owner = universe.module_owner.get(name)
            where = f" (shipped by {owner}{_hint(owner, view)})" if owner else ""
            findings.fail(
                "autoload.modules",
                art,
                f"/etc/modules.d/{file} loads {name}, not in the package or its closure{where}",
            )
    if not bad:
        findings.ok("autoload.modules", art, "autoload lists name shipped modules")
    # across files, modules load in file-name order: a dependency must not load later
    position: dict[str, str] = {}
    for member in closure:
        for file, names in autoload_lists(member).items():
            for name in names:
                position.setdefault(name, file)
    late = []
    for file, names in lists.items():
        for name in names:
            info = available.get(name)
            for dep in info.depends if info else ():
                dep_file = position.get(module_name(dep))
                if dep_file is not None and dep_file > file:
                    late.append(
                        f"{name} ({file}) needs {module_name(dep)} loaded later ({dep_file})"
                    )
    for item in late:
        findings.warn("autoload.order", art, item)
    if not late:
        findings.ok("autoload.order", art, "dependencies load first")
