"""Plain data for one catalog spec: the declarative mirror of an OpenWrt KernelPackage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.catalog.qualifiers import ReleaseRange


@dataclass(frozen=True)
class Dependency:
    """One OpenWrt DEPENDS item.

    Forms: ``+pkg``, ``pkg``, ``@SYM``, ``+@SYM``, ``+SYM:pkg``, ``+!SYM:pkg``.
    """

    raw: str
    select: bool
    symbol: bool
    target: str
    condition: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Dependency:
        body = raw.lstrip("+@")
        flags = raw[: len(raw) - len(body)]
        condition: str | None = None
        if ":" in body:
            condition, body = body.split(":", 1)
        return cls(
            raw=raw, select="+" in flags, symbol="@" in flags, target=body, condition=condition
        )


@dataclass(frozen=True)
class Item:
    """A list entry with an optional kernel qualifier (``@lt5.17``) and release range."""

    value: str
    qualifier: str | None = None
    releases: ReleaseRange | None = None

    @property
    def text(self) -> str:
        """The OpenWrt spelling, qualifier included."""
        return f"{self.value}@{self.qualifier}" if self.qualifier else self.value


@dataclass(frozen=True)
class FileSpec:
    """A module file relative to the kernel tree; ``symbol`` is the CONFIG_ that builds it."""

    path: str
    qualifier: str | None = None
    releases: ReleaseRange | None = None
    symbol: str | None = None
    optional: bool = False

    @property
    def module(self) -> str:
        return Path(self.path).name.removesuffix(".ko")


@dataclass(frozen=True)
class AutoloadSpec:
    """``AutoProbe(mods)`` (kind probe) or ``AutoLoad(priority, mods, boot)`` (kind load)."""

    kind: str
    modules: tuple[Item, ...]
    priority: str = ""
    boot: bool = False


@dataclass(frozen=True)
class ExtraFile:
    """A non-module file the package installs (sysctl snippets, documentation)."""

    path: str
    content: str
    mode: int = 0o644
    releases: ReleaseRange | None = None


@dataclass(frozen=True)
class PackageSpec:
    """One catalog entry (``feeds/<feed>/<short>.toml``); ``name`` is the short name."""

    name: str
    title: str
    submenu: str
    source_file: Path
    description: str = ""
    hidden: bool = False
    default: str = ""
    releases: ReleaseRange | None = None
    depends: tuple[Item, ...] = ()
    kconfig: tuple[Item, ...] = ()
    files: tuple[FileSpec, ...] = ()
    autoload: AutoloadSpec | None = None
    modparams: dict[str, str] = field(default_factory=dict)
    extra_files: tuple[ExtraFile, ...] = ()
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return f"kmod-{self.name}"

    def where(self, field_name: str) -> str:
        """``file:line (field)`` for error messages."""
        line = self.lines.get(field_name) or self.lines.get(field_name.split("[")[0].split(".")[0])
        loc = f"{self.source_file}:{line}" if line else str(self.source_file)
        return f"{loc} ({field_name})"


def in_release(releases: ReleaseRange | None, release: str, order: Sequence[str]) -> bool:
    return releases is None or releases.contains(release, order)


@dataclass(frozen=True)
class ReleaseView:
    """A spec with release ranges applied (kernel qualifiers still attached)."""

    spec: PackageSpec
    depends: tuple[Dependency, ...]
    kconfig: tuple[Item, ...]
    files: tuple[FileSpec, ...]
    autoload: AutoloadSpec | None
    extra_files: tuple[ExtraFile, ...]

    @property
    def name(self) -> str:
        return self.spec.package

    @property
    def depends_raw(self) -> list[str]:
        return [d.raw for d in self.depends]


def view_for_release(spec: PackageSpec, release: str, order: Sequence[str]) -> ReleaseView:
    def keep(items: Sequence[Item]) -> tuple[Item, ...]:
        return tuple(i for i in items if in_release(i.releases, release, order))

    autoload = spec.autoload
    if autoload is not None:
        autoload = AutoloadSpec(
            autoload.kind, keep(autoload.modules), autoload.priority, autoload.boot
        )
    return ReleaseView(
        spec=spec,
        depends=tuple(Dependency.parse(i.value) for i in keep(spec.depends)),
        kconfig=keep(spec.kconfig),
        files=tuple(f for f in spec.files if in_release(f.releases, release, order)),
        autoload=autoload,
        extra_files=tuple(e for e in spec.extra_files if in_release(e.releases, release, order)),
    )
