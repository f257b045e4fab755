"""Load and validate catalog specs (TOML), reporting file, line and field for every error.

tomllib keeps no positions, so the line of an offending key or item is found again in the
source text; that is enough for a user to jump to the mistake.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kmodkit.catalog.qualifiers import (
    QualifierError,
    ReleaseRange,
    check_condition,
    parse_release_range,
    split_qualifier,
)
from kmodkit.catalog.spec import (
    AutoloadSpec,
    Dependency,
    ExtraFile,
    FileSpec,
    Item,
    PackageSpec,
)
from kmodkit.errors import SpecError

TOP_FIELDS = {
    "name",
    "title",
    "submenu",
    "description",
    "hidden",
    "default",
    "releases",
    "depends",
    "kconfig",
    "files",
    "autoload",
    "modparams",
    "extra_files",
}
_ITEM_FIELDS = {"value", "releases"}
_FILE_FIELDS = {"path", "releases", "symbol", "optional"}
_AUTOLOAD_FIELDS = {"kind", "modules", "priority", "boot"}
_EXTRA_FIELDS = {"path", "content", "source", "mode", "releases"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_KCONFIG_RE = re.compile(r"^CONFIG_[A-Za-z0-9_]+(=.+)?$")
_DEP_RE = re.compile(r"^[+@]*(!?[A-Za-z0-9_&|!]+:)?[A-Za-z0-9_][A-Za-z0-9._+-]*$")


class _Ctx:
    """Error reporting for one spec file: maps a field to its line in the source text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, needle: str | None = None) -> int | None:
        key_re = re.compile(rf"^\s*(\[\[?\s*)?{re.escape(key)}\s*(=|\]|\.)")
        start = None
        for number, line in enumerate(self.lines, 1):
            if key_re.match(line):
                start = number
                break
        if needle is None or start is None:
            return start
        quoted = [f'"{needle}"', f"'{needle}'"]
        for number in range(start, len(self.lines) + 1):
            if any(q in self.lines[number - 1] for q in quoted):
                return number
        return start

    def key_line(self, key: str) -> int | None:
        """First line where ``key =`` appears, also inside inline tables."""
        key_re = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
        for number, line in enumerate(self.lines, 1):
            if key_re.search(line.split("#")[0]):
                return number
        return None

    def error(
        self, field: str, message: str, needle: str | None = None, key: str | None = None
    ) -> SpecError:
        if key is not None:
            line = self.key_line(key)
        else:
            line = self.line_of(field.split("[")[0].split(".")[0], needle)
        where = f"{self.path}:{line}" if line else str(self.path)
        return SpecError(f"field {field!r}: {message}", where=where)


def _expect(ctx: _Ctx, field: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ctx.error(field, f"must be {what}, got {type(value).__name__}")
    return value


def _check_keys(ctx: _Ctx, field: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ctx.error(
                field, f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})", key=key
            )


def _range(ctx: _Ctx, field: str, value: Any, releases: Sequence[str]) -> ReleaseRange | None:
    if value is None:
        return None
    text = _expect(ctx, field, value, str, "a release range string such as '>=22.03'")
    try:
        return parse_release_range(text, releases)
    except QualifierError as exc:
        raise ctx.error(field, str(exc), needle=text) from None


def _items(
    ctx: _Ctx,
    field: str,
    raw: Any,
    releases: Sequence[str],
    check: Callable[[str], str | None],
    qualifiers: bool,
) -> tuple[Item, ...]:
    items: list[Item] = []
    for index, entry in enumerate(_expect(ctx, field, raw, list, "a list")):
        name = f"{field}[{index}]"
        if isinstance(entry, dict):
            _check_keys(ctx, name, entry, _ITEM_FIELDS)
            text = _expect(ctx, name, entry.get("value"), str, "a string ('value')")
            rng = _range(ctx, name, entry.get("releases"), releases)
        else:
            text, rng = _expect(ctx, name, entry, str, "a string or a table"), None
        value, qualifier = text, None
        if qualifiers:
            try:
                value, qualifier = split_qualifier(text)
            except QualifierError as exc:
                raise ctx.error(name, str(exc), needle=text) from None
        problem = check(value)
        if problem:
            raise ctx.error(name, problem, needle=text)
        items.append(Item(value, qualifier, rng))
    return tuple(items)


def _check_dep(text: str) -> str | None:
    if not _DEP_RE.match(text):
        return f"bad dependency {text!r} (expected +pkg, pkg, @SYM, +@SYM, +SYM:pkg, +!SYM:pkg)"
    dep = Dependency.parse(text)
    if dep.condition is not None:
        try:
            check_condition(dep.condition)
        except QualifierError as exc:
            return str(exc)
    return None


def _check_kconfig(text: str) -> str | None:
    return None if _KCONFIG_RE.match(text) else f"bad kernel symbol {text!r} (CONFIG_X[=y|n|m])"


def _check_module(text: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_-]+", text) else f"bad module name {text!r}"


def _files(ctx: _Ctx, raw: Any, releases: Sequence[str]) -> tuple[FileSpec, ...]:
    files: list[FileSpec] = []
    for index, entry in enumerate(_expect(ctx, "files", raw, list, "a list")):
        name = f"files[{index}]"
        table = entry if isinstance(entry, dict) else {"path": entry}
        _check_keys(ctx, name, table, _FILE_FIELDS)
        text = _expect(ctx, name, table.get("path"), str, "a path string")
        try:
            path, qualifier = split_qualifier(text)
        except QualifierError as exc:
            raise ctx.error(name, str(exc), needle=text) from None
        if path.startswith("/") or ".." in path.split("/") or not path.endswith(".ko"):
            raise ctx.error(
                name, f"{path!r} must be a .ko path relative to the kernel tree", needle=text
            )
        symbol = table.get("symbol")
        if symbol is not None and _check_kconfig(_expect(ctx, name, symbol, str, "a string")):
            raise ctx.error(name, f"bad symbol {symbol!r}", needle=text)
        optional = _expect(ctx, name, table.get("optional", False), bool, "true or false")
        files.append(
            FileSpec(
                path,
                qualifier,
                _range(ctx, name, table.get("releases"), releases),
                symbol,
                optional,
            )
        )
    return tuple(files)


def _autoload(ctx: _Ctx, raw: Any, releases: Sequence[str]) -> AutoloadSpec:
    table = _expect(ctx, "autoload", raw, dict, "a table")
    _check_keys(ctx, "autoload", table, _AUTOLOAD_FIELDS)
    kind = table.get("kind", "probe")
    if kind not in ("probe", "load"):
        raise ctx.error("autoload", f"kind must be 'probe' or 'load', got {kind!r}")
    priority = table.get("priority", "")
    priority = str(_expect(ctx, "autoload", priority, (str, int), "a number or string"))
    if priority and not priority.isdigit():
        raise ctx.error("autoload", f"priority must be digits, got {priority!r}")
    if kind == "probe" and (priority or table.get("boot")):
        raise ctx.error("autoload", "kind 'probe' takes neither priority nor boot")
    modules = _items(
        ctx, "autoload.modules", table.get("modules", []), releases, _check_module, qualifiers=True
    )
    boot = _expect(ctx, "autoload", table.get("boot", False), bool, "true or false")
    return AutoloadSpec(kind, modules, priority, boot)


def _extra_files(ctx: _Ctx, raw: Any, releases: Sequence[str]) -> tuple[ExtraFile, ...]:
    result: list[ExtraFile] = []
    for index, entry in enumerate(_expect(ctx, "extra_files", raw, list, "a list of tables")):
        name = f"extra_files[{index}]"
        _check_keys(ctx, name, _expect(ctx, name, entry, dict, "a table"), _EXTRA_FIELDS)
        path = _expect(ctx, name, entry.get("path"), str, "an absolute path")
        if not path.startswith("/") or ".." in path.split("/"):
            raise ctx.error(name, f"path {path!r} must be absolute", needle=path)
        if ("content" in entry) == ("source" in entry):
            raise ctx.error(name, "give exactly one of 'content' or 'source'", needle=path)
        if "source" in entry:
            source = ctx.path.parent / _expect(ctx, name, entry["source"], str, "a path")
            try:
                content = source.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ctx.error(name, f"cannot read {source}: {exc}") from None
        else:
            content = _expect(ctx, name, entry["content"], str, "a string")
        mode = _expect(ctx, name, entry.get("mode", "0644"), str, "an octal string like '0644'")
        if not re.fullmatch(r"0?[0-7]{3}", mode):
            raise ctx.error(name, f"bad mode {mode!r}")
        result.append(
            ExtraFile(
                path, content, int(mode, 8), _range(ctx, name, entry.get("releases"), releases)
            )
        )
    return tuple(result)


def load_spec(path: Path, releases: Sequence[str]) -> PackageSpec:
    """Parse one spec file; every problem is a SpecError naming file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec: {exc}", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"invalid TOML: {exc}", where=str(path)) from None
    ctx = _Ctx(path, text)
    _check_keys(ctx, "<top level>", data, TOP_FIELDS)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith("kmod-"):
        raise ctx.error("name", f"bad package name {name!r} (short name without kmod-)")
    for required in ("title", "submenu"):
        if required not in data:
            raise SpecError(f"missing required field {required!r}", where=str(path))
    title = _expect(ctx, "title", data["title"], str, "a string")
    description = _expect(ctx, "description", data.get("description", ""), str, "a string")
    modparams = _expect(ctx, "modparams", data.get("modparams", {}), dict, "a table")
    for module, params in modparams.items():
        _expect(ctx, "modparams", params, str, f"a string for {module}")
    lines = {key: line for key in data if (line := ctx.line_of(key)) is not None}
    return PackageSpec(
        name=name,
        title=title,
        submenu=_expect(ctx, "submenu", data["submenu"], str, "a string"),
        source_file=path,
        description=description.strip("\n") or title,
        hidden=_expect(ctx, "hidden", data.get("hidden", False), bool, "true or false"),
        default=_expect(ctx, "default", data.get("default", ""), str, "a string"),
        releases=_range(ctx, "releases", data.get("releases"), releases),
        depends=_items(ctx, "depends", data.get("depends", []), releases, _check_dep, False),
        kconfig=_items(ctx, "kconfig", data.get("kconfig", []), releases, _check_kconfig, True),
        files=_files(ctx, data.get("files", []), releases),
        autoload=_autoload(ctx, data["autoload"], releases) if "autoload" in data else None,
        modparams=dict(modparams),
        extra_files=_extra_files(ctx, data.get("extra_files", []), releases),
        lines=lines,
    )


def spec_files(directory: Path) -> list[Path]:
    """Spec files of a feed directory: ``*.toml`` in it and one level below, sorted."""
    if not directory.is_dir():
        raise SpecError("feed directory does not exist", where=str(directory))
    found = [p for p in directory.glob("*.toml") if p.name not in ("releases.toml", "targets.toml")]
    found += list(directory.glob("*/*.toml"))
    return sorted(found)
