"""build-report.json: what went in (inputs, tree identity) and what came out (every artifact)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmodkit import __version__
from kmodkit.fsutil import atomic_write_text

if TYPE_CHECKING:
    from kmodkit.kernel.kbuild import ModuleResult
    from kmodkit.pipeline.assemble import BuildContext, PackageOutcome
    from kmodkit.pipeline.build import BuildOptions


def _artifacts(root: Path, skip: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != skip):
        data = path.read_bytes()
        found.append(
            {
                "path": path.relative_to(root).as_posix(),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return found


def origin(status: str) -> str:
    """Where a module came from, independent of cache hits, so reports of reruns are identical."""
    return "compiled" if status == "cached" else status


def write_build_report(
    path: Path,
    *,
    ctx: BuildContext,
    options: BuildOptions,
    outcomes: Sequence[PackageOutcome],
    results: Mapping[str, ModuleResult],
) -> None:
    """Deterministic: no wall-clock time, no cache state, no absolute output paths."""
    report = {
        "kmodkit": __version__,
        "inputs": {
            "target": ctx.target.name,
            "release": ctx.release.name,
            "packages": list(options.packages),
            "formats": list(ctx.formats),
            "engine": options.engine,
            "source_date_epoch": ctx.epoch,
        },
        "kernel": ctx.tree.describe(),
        "modules": {p: {"origin": origin(r.status)} for p, r in sorted(results.items())},
        "packages": [
            {
                "name": o.name,
                "version": o.version,
                "status": o.status,
                "modules": o.modules,
                "artifacts": o.artifacts,
                "depends_added_from_modinfo": o.added_depends,
            }
            for o in outcomes
        ],
        "artifacts": _artifacts(path.parent, path.name),
    }
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True) + "\n")
