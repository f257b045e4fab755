"""Module.symvers reader: which module exports which symbol, with which CRC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kmodkit.errors import KernelTreeError


@dataclass(frozen=True)
class SymbolExport:
    symbol: str
    crc: str
    module: str
    export_type: str
    namespace: str = ""


def parse_symvers(text: str, where: str) -> dict[str, SymbolExport]:
    """Parse ``crc<TAB>symbol<TAB>module<TAB>export_type[<TAB>namespace]`` lines."""
    exports: dict[str, SymbolExport] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 4 or not fields[0].startswith("0x"):
            raise KernelTreeError(
                "malformed Module.symvers line (want crc, symbol, module, export type)",
                where=f"{where}:{number}",
            )
        namespace = fields[4] if len(fields) > 4 else ""
        exports[fields[1]] = SymbolExport(fields[1], fields[0], fields[2], fields[3], namespace)
    return exports


def read_symvers(path: Path) -> dict[str, SymbolExport]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise KernelTreeError(
            f"cannot read Module.symvers: {exc.strerror}", where=str(path)
        ) from exc
    return parse_symvers(text, str(path))
