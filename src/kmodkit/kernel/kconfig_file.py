"""The one reader of ``.config`` files (kernel configs, OpenWrt SDK configs, fragments).

Semantics, as Kconfig writes them (scripts/kconfig/confdata.c):
- ``CONFIG_X=value`` -> ``value``; a double-quoted string loses its quotes and its ``\\"`` and
  ``\\\\`` escapes (``CONFIG_X="a \\"b\\""`` -> ``a "b"``);
- ``# CONFIG_X is not set`` -> ``"n"`` (Kconfig's own meaning of the line);
- symbol names are OpenWrt's too (``CONFIG_PACKAGE_kmod-nf-flow``: ``-``, ``+``, ``.`` allowed);
- anything else (comments, blank lines, noise) is ignored; a later line wins.
Callers that ask "is X enabled" treat a missing symbol and ``"n"`` alike.
"""

from __future__ import annotations

import re

_SET = re.compile(r"^(CONFIG_[^\s=#]+)=(.*)$")
_NOT_SET = re.compile(r"^#\s*(CONFIG_[^\s=#]+) is not set$")
_ESCAPE = re.compile(r"\\(.)")


def config_value(raw: str) -> str:
    """The value of one ``CONFIG_X=raw`` line: unquoted and unescaped when it is a string."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return _ESCAPE.sub(r"\1", raw[1:-1])
    return raw


def parse_kconfig(text: str) -> dict[str, str]:
    """``{CONFIG_X: value}`` of a .config text; ``is not set`` lines give ``"n"``."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if match := _SET.match(line):
            values[match.group(1)] = config_value(match.group(2))
        elif match := _NOT_SET.match(line):
            values[match.group(1)] = "n"
    return values
