"""Complete each package's Depends from what its modules really need.

OpenWrt's DEPENDS are written for OpenWrt's kernel configs; another kernel (a distro's, say)
may wire modules differently (Debian's nf_conntrack needs libcrc32c for SCTP). The modules'
own `modinfo depends=` is the truth, so a package whose module needs a module shipped by a
package outside its declared closure gets that package added to Depends, and the build report
says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from kmodkit.errors import BuildError
from kmodkit.kernel import KernelTree
from kmodkit.kernel.modinfo import module_name, read_modinfo
from kmodkit.resolve import Closure


def _declared_closure(closure: Closure, name: str) -> set[str]:
    """Package names reachable from ``name`` through resolved Depends (itself included)."""
    by_name = {p.name: p for p in closure.packages}
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        stack.extend(by_name[current].depends)
    return seen


def missing_package_depends(
    closure: Closure,
    module_bytes: Mapping[str, bytes],
    tree: KernelTree,
) -> dict[str, list[str]]:
    owner: dict[str, str] = {}
    for pkg in closure.packages:
        for f in pkg.files:
            if f.path in module_bytes:
                owner[module_name(f.path)] = pkg.name
    builtin = {module_name(b) for b in tree.builtin_modules}
    added: dict[str, list[str]] = {}
    for pkg in closure.packages:
        reach = _declared_closure(closure, pkg.name)
        missing: set[str] = set()
        for f in pkg.files:
            if f.path not in module_bytes:
                continue
            info = read_modinfo(module_bytes[f.path], f.path)
            for dep in info.depends:
                norm = module_name(dep)
                if norm in builtin:
                    continue
                provider = owner.get(norm)
                if provider is None:
                    raise BuildError(
                        f"{f.path} (package {pkg.name}) needs module {dep}, which no package "
                        "of the closure ships and the kernel does not build in"
                    )
                if provider not in reach:
                    missing.add(provider)
        if missing:
            added[pkg.name] = sorted(missing)
    return added
