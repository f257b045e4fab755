"""Read a kernel directory Makefile the way Kbuild would, for the questions kmodkit asks.

Which Kconfig symbol builds ``m.o`` (``obj-$(CONFIG_X) += m.o``), and which composite module
an object belongs to (``m-objs``/``m-y``/``m-$(CONFIG_Y)``). The build itself still runs the
kernel's own Makefile (kbuild includes it), so only the decision is made here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Decision = Literal["module", "builtin", "absent"]

_ASSIGN = re.compile(r"^([A-Za-z0-9_.$()-]+)\s*(\+=|:=|\?=|=)\s*(.*)$")
_OBJ_VAR = re.compile(r"^obj-(?:\$\((CONFIG_[A-Za-z0-9_]+)\)|(y|m))$")


@dataclass(frozen=True)
class KbuildMakefile:
    """``module -> symbol`` (``"y"``/``"m"`` for unconditional lines) and composite parts."""

    modules: Mapping[str, str]
    parts: Mapping[str, str]

    def decide(self, module: str, config: Mapping[str, str]) -> tuple[Decision, str]:
        """Module, built in or absent under ``config``, with a note saying why."""
        symbol = self.modules.get(module)
        if symbol is None:
            owner = self.parts.get(module)
            if owner:
                return "absent", f"{module}.o is part of {owner}.ko in this kernel"
            return "absent", f"{module}.o is not built by this directory's Makefile"
        value = symbol if symbol in ("y", "m") else config.get(symbol)
        if value == "m":
            return "module", f"{symbol}=m"
        if value == "y":
            return "builtin", f"built into the kernel ({symbol}=y)"
        return "absent", f"{symbol} is not set"


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0] if not raw.lstrip().startswith("\t") else raw
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append((pending + line).strip())
        pending = ""
    if pending:
        lines.append(pending.strip())
    return [line.split("#", 1)[0].strip() for line in lines if line]


def parse_kbuild_makefile(text: str) -> KbuildMakefile:
    modules: dict[str, str] = {}
    parts: dict[str, str] = {}
    for line in _logical_lines(text):
        match = _ASSIGN.match(line)
        if not match:
            continue
        var, objects = match.group(1), match.group(3).split()
        obj = _OBJ_VAR.match(var)
        if obj:
            symbol = obj.group(1) or obj.group(2)
            for item in objects:
                if item.endswith(".o") and "$" not in item:
                    modules.setdefault(item[:-2], symbol)
            continue
        composite = re.match(r"^([A-Za-z0-9_]+)-(?:objs|y|m|\$\(CONFIG_[A-Za-z0-9_]+\))$", var)
        if composite and composite.group(1) not in ("obj", "lib", "subdir", "always", "extra"):
            for item in objects:
                if item.endswith(".o") and "$" not in item and "/" not in item:
                    parts.setdefault(item[:-2], composite.group(1))
    for name in modules:
        parts.pop(name, None)
    return KbuildMakefile(modules=modules, parts=parts)
