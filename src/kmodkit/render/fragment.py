"""The kernel config fragment a closure needs, and its validation against a real Kconfig tree.

Rendering follows package-metadata.pl's ``gen_kconfig_overrides`` for selected packages: a
bare ``CONFIG_X`` asks for ``m``, ``CONFIG_X=v`` for ``v``; once a symbol is ``y`` it stays
``y``; the output is sorted, ``n`` written as ``# CONFIG_X is not set``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.catalog import Release, Target
from kmodkit.kernel.kconfig_file import parse_kconfig as parse_config
from kmodkit.resolve import Closure


def fragment_values(closure: Closure) -> dict[str, str]:
    values: dict[str, str] = {}
    for package in closure.packages:
        for item in package.kconfig:
            symbol, _, value = item.partition("=")
            if values.get(symbol) == "y":
                continue
            values[symbol] = value or "m"
    return dict(sorted(values.items()))


def format_fragment(values: Mapping[str, str]) -> str:
    lines = []
    for symbol in sorted(values):
        value = values[symbol]
        lines.append(f"# {symbol} is not set" if value == "n" else f"{symbol}={value}")
    return "".join(f"{line}\n" for line in lines)


def render_kernel_fragment(
    closure: Closure, *, release: Release | None = None, target: Target | None = None
) -> str:
    """The fragment for the closure's kernel version (qualifiers already applied; release
    and target are those of the closure and accepted for symmetry with the other renderers)."""
    return format_fragment(fragment_values(closure))


@dataclass(frozen=True)
class SymbolProblem:
    symbol: str
    wanted: str
    got: str
    reason: str


@dataclass(frozen=True)
class FragmentReport:
    """Outcome of applying a fragment over a kernel's .config with its own Kconfig rules."""

    ok: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    builtin_instead: tuple[str, ...] = ()
    mismatched: tuple[SymbolProblem, ...] = ()
    values: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.mismatched

    def summary(self) -> str:
        parts = [f"{len(self.ok)} ok"]
        if self.builtin_instead:
            parts.append(f"built in instead of m: {' '.join(self.builtin_instead)}")
        if self.missing:
            parts.append(f"not in this kernel: {' '.join(self.missing)}")
        parts += [
            f"{p.symbol}: wanted {p.wanted}, got {p.got} ({p.reason})" for p in self.mismatched
        ]
        return "; ".join(parts)


def validate_fragment(
    fragment: str | Mapping[str, str], kconfig_root: Path, dotconfig: Path, *, arch: str = "x86"
) -> FragmentReport:
    """Apply ``fragment`` over ``dotconfig`` with the kernel's Kconfig and check every symbol
    exists and takes the requested value (``m`` satisfied by ``y`` is reported apart)."""
    from kmodkit.render.kconfig_tree import load_kconfig

    wanted = parse_config(fragment) if isinstance(fragment, str) else dict(fragment)
    kconf = load_kconfig(kconfig_root, arch=arch, dotconfig=dotconfig)
    missing, present = [], {}
    for symbol, value in wanted.items():
        name = symbol.removeprefix("CONFIG_")
        sym = kconf.syms.get(name)
        if sym is None or not sym.nodes:
            missing.append(symbol)
        else:
            present[symbol] = (sym, value)
    for sym, value in present.values():
        sym.set_value(value)
    ok, builtin, mismatched, values = [], [], [], {}
    for symbol, (sym, value) in present.items():
        got = sym.str_value
        values[symbol] = got
        if got == value:
            ok.append(symbol)
        elif value == "m" and got == "y":
            builtin.append(symbol)
        else:
            reason = (
                "no prompt; set by other symbols"
                if not sym.nodes[0].prompt
                else (f"visibility {sym.visibility}: depends on {_expr_str(sym.direct_dep)}")
            )
            mismatched.append(SymbolProblem(symbol, value, got or "n", reason))
    return FragmentReport(
        tuple(ok), tuple(sorted(missing)), tuple(builtin), tuple(mismatched), values
    )


def _expr_str(expr: object) -> str:
    import kconfiglib

    return str(kconfiglib.expr_str(expr))
