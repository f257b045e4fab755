"""Resolve a package's dependency closure for one release, target and kernel.

Conditions (``+IPV6:kmod-x``, ``@IPV6``, ``LINUX_6_12``) are evaluated against a symbol set;
kernel qualifiers against the kernel's patch version. With a kernel ``.config`` the result
says, like OpenWrt's kernel.mk, which modules are built in and which packages end up empty.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from kmodkit.catalog import Catalog, Release, ReleaseView, Target
from kmodkit.catalog.qualifiers import (
    QualifierError,
    eval_condition,
    filter_items,
    patch_version,
    split_qualifier,
)
from kmodkit.errors import ResolveError, UsageError
from kmodkit.kernel.modinfo import module_name

DEFAULT_SYMBOLS = ("IPV6",)


@dataclass(frozen=True)
class ModuleFile:
    path: str
    module: str
    optional: bool = False
    symbol: str | None = None
    status: str | None = None  # "module" | "builtin" | "absent" when a kernel config was given


@dataclass(frozen=True)
class Autoload:
    """An /etc/modules.d entry: ``<priority>-<name>`` (or ``<name>``), sorted modules."""

    filename: str
    modules: tuple[str, ...]
    boot: bool = False
    modparams: Mapping[str, str] = field(default_factory=dict)

    def content(self) -> str:
        lines = []
        for module in sorted(self.modules):
            params = self.modparams.get(module)
            lines.append(f"{module} {params}" if params else module)
        return "".join(f"{line}\n" for line in lines)

    @property
    def path(self) -> str:
        return f"/etc/modules.d/{self.filename}"

    def boot_symlink(self) -> tuple[str, str] | None:
        """(link path, target) of the modules-boot.d entry, when the module loads at boot."""
        if not self.boot:
            return None
        return f"/etc/modules-boot.d/{self.filename}", f"../modules.d/{self.filename}"


@dataclass(frozen=True)
class ExtraFileOut:
    path: str
    content: str
    mode: int = 0o644

    @property
    def data(self) -> bytes:
        return self.content.encode("utf-8")


@dataclass(frozen=True)
class ResolvedPackage:
    name: str
    short: str
    title: str
    description: str
    submenu: str
    hidden: bool
    depends: tuple[str, ...]
    depends_spec: tuple[str, ...]
    kconfig: tuple[str, ...]
    files: tuple[ModuleFile, ...]
    autoload: Autoload | None
    extra_files: tuple[ExtraFileOut, ...]
    empty: bool
    empty_reason: str
    why: tuple[str, ...]
    default: str = ""

    @property
    def installed_files(self) -> tuple[ModuleFile, ...]:
        """Files to package: all when the kernel is unknown, else those built as modules."""
        return tuple(f for f in self.files if f.status in (None, "module"))

    def present_autoload_modules(self, present: Collection[str]) -> tuple[str, ...]:
        """Autoload modules that exist: ``present`` is every module the built feed ships.

        OpenWrt's AutoProbe lists may name modules a kernel does not have (nf_flow_table_hw
        comes from OpenWrt's own patches); a feed built for another kernel lists only what it
        ships, so `invoke verify`'s autoload check holds."""
        if self.autoload is None:
            return ()
        names = {module_name(p) for p in present}
        return tuple(m for m in self.autoload.modules if module_name(m) in names)

    def render_modules_d(self, present: Collection[str] | None = None) -> str:
        """Content of the /etc/modules.d file (optionally limited as above)."""
        if self.autoload is None:
            return ""
        if present is None:
            return self.autoload.content()
        modules = self.present_autoload_modules(present)
        return Autoload(
            self.autoload.filename, modules, self.autoload.boot, self.autoload.modparams
        ).content()


@dataclass(frozen=True)
class Closure:
    root: tuple[str, ...]
    packages: tuple[ResolvedPackage, ...]
    release: Release
    target: Target
    kernel_version: str
    symbols: frozenset[str]
    views: Mapping[str, ReleaseView]

    def get(self, name: str) -> ResolvedPackage:
        key = name if name.startswith("kmod-") else f"kmod-{name}"
        for package in self.packages:
            if package.name == key:
                return package
        raise UsageError(f"{name} is not in the closure of {', '.join(self.root)}")

    def why(self, name: str) -> list[str]:
        return list(self.get(name).why)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.packages]


def closure_symbols(
    release: Release, target: Target, kernel_version: str, symbols: Collection[str] = ()
) -> frozenset[str]:
    """IPV6, the target's symbols and LINUX_x_y; ``!SYM`` in ``symbols`` disables one."""
    series = patch_version(kernel_version).replace(".", "_")
    enabled = {*DEFAULT_SYMBOLS, *target.symbols, f"LINUX_{series}"}
    for symbol in symbols:
        if symbol.startswith("!"):
            enabled.discard(symbol[1:])
        else:
            enabled.add(symbol.removeprefix("CONFIG_"))
    return frozenset(enabled)


def _normalize_config(config: Mapping[str, str] | None) -> dict[str, str] | None:
    if config is None:
        return None
    return {k if k.startswith("CONFIG_") else f"CONFIG_{k}": v for k, v in config.items()}


def _file_status(
    file: ModuleFile,
    package_symbols: Sequence[str],
    config: dict[str, str] | None,
    builtin: Collection[str] | None,
) -> str | None:
    if config is None and builtin is None:
        return None
    if builtin is not None and (file.module in builtin or file.path in builtin):
        return "builtin"
    if config is None:
        return "module"
    symbols = [file.symbol] if file.symbol else list(package_symbols)
    values = {config.get(s, "n") for s in symbols}
    if "m" in values:
        return "module"
    return "builtin" if "y" in values else "absent"


def _resolve_one(
    view: ReleaseView,
    why: tuple[str, ...],
    patchver: str,
    symbols: frozenset[str],
    config: dict[str, str] | None,
    builtin: Collection[str] | None,
) -> ResolvedPackage:
    spec = view.spec
    kconfig = tuple(filter_items([i.text for i in view.kconfig], patchver))
    bare = [k for k in kconfig if "=" not in k]
    files: list[ModuleFile] = []
    for f in view.files:
        path, qualifier = split_qualifier(f.path + (f"@{f.qualifier}" if f.qualifier else ""))
        if not filter_items([f"x@{qualifier}"] if qualifier else ["x"], patchver):
            continue
        file = ModuleFile(path, f.module, f.optional, f.symbol)
        status = _file_status(file, bare, config, builtin)
        files.append(ModuleFile(path, f.module, f.optional, f.symbol, status))
    empty, reason = False, ""
    if config is not None and bare and not any(config.get(k) in ("y", "m") for k in bare):
        empty, reason = True, f"none of {' '.join(bare)} is y or m in the kernel config"
    elif not files:
        empty, reason = True, f"no module files for kernel {patchver}"
    if not empty:
        for file in files:
            if file.status == "absent" and not file.optional:
                raise ResolveError(
                    f"module {file.path} of {spec.package} is missing: "
                    f"{file.symbol or ' '.join(bare)} is not m or y in the kernel config",
                    where=str(spec.source_file),
                )
    depends = []
    for dep in view.depends:
        if dep.symbol:
            continue
        applies = dep.condition is None or eval_condition(dep.condition, symbols)
        if applies and dep.target not in depends:
            depends.append(dep.target)
    autoload = None
    if view.autoload is not None and not empty:
        absent = {f.module for f in files if f.status == "absent"}
        modules = tuple(
            m
            for m in filter_items([i.text for i in view.autoload.modules], patchver)
            if m not in absent
        )
        if modules:
            prio = view.autoload.priority
            filename = f"{prio}-{spec.name}" if prio and int(prio) else spec.name
            autoload = Autoload(filename, modules, view.autoload.boot, dict(spec.modparams))
    return ResolvedPackage(
        name=spec.package,
        short=spec.name,
        title=spec.title,
        description=spec.description,
        submenu=spec.submenu,
        hidden=spec.hidden,
        depends=tuple(depends),
        depends_spec=tuple(view.depends_raw),
        kconfig=kconfig,
        files=tuple(files),
        autoload=autoload,
        extra_files=tuple(ExtraFileOut(e.path, e.content, e.mode) for e in view.extra_files),
        empty=empty,
        empty_reason=reason,
        why=why,
        default=spec.default,
    )


def resolve_closure(
    catalog: Catalog,
    root: str | Sequence[str],
    *,
    release: Release,
    target: Target,
    kernel_version: str | None = None,
    symbols: Collection[str] = (),
    kernel_config: Mapping[str, str] | None = None,
    builtin_modules: Collection[str] | None = None,
) -> Closure:
    """The packages ``root`` needs, dependencies first, each evaluated for this kernel."""
    roots = [root] if isinstance(root, str) else list(root)
    roots = [r if r.startswith("kmod-") else f"kmod-{r}" for r in roots]
    version = kernel_version or release.kernel_series_for(target)
    try:
        patchver = patch_version(version)
    except QualifierError as exc:
        raise UsageError(str(exc)) from None
    enabled = closure_symbols(release, target, version, symbols)
    views = catalog.views(release.name)
    config = _normalize_config(kernel_config)
    order: list[ResolvedPackage] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise ResolveError(f"dependency cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        if name not in views:
            via = f" (needed by {path[-1]})" if path else ""
            raise ResolveError(f"package {name} does not exist in release {release.name}{via}")
        view = views[name]
        trail = (*path, name)
        for dep in view.depends:
            applies = dep.condition is None or eval_condition(dep.condition, enabled)
            if dep.symbol:
                if applies and not dep.select and not eval_condition(dep.target, enabled):
                    raise ResolveError(
                        f"{name} depends on {dep.target}, which is not enabled "
                        f"(symbols: {' '.join(sorted(enabled))})",
                        where=str(view.spec.source_file),
                    )
                continue
            if applies:
                visit(dep.target, trail)
        done.add(name)
        order.append(_resolve_one(view, trail, patchver, enabled, config, builtin_modules))

    for name in roots:
        visit(name, ())
    return Closure(tuple(roots), tuple(order), release, target, version, enabled, views)
