"""container.* checks: members that would harm a device, judged by formats.pathsafety.

The same rules for ipk (every tar layer) and apk (the ADB file list); one check id per rule,
so CI can tell a traversal from a setuid binary.
"""

from __future__ import annotations

from collections.abc import Sequence

from kmodkit.formats.pathsafety import HAZARD_KINDS, Hazard
from kmodkit.verify.model import Findings

MAX_SHOWN = 5  # hazards named per check and artifact; a hostile package may hold thousands

_OK = {
    "unsafe-path": "every member path is relative, without '..'",
    "escaping-link": "no symlink leaves the package root or is written through",
    "hardlink": "no hard links",
    "duplicate": "no member is stored twice",
    "special-file": "no device nodes or FIFOs",
    "setuid": "no setuid/setgid files",
}


def check_members(
    findings: Findings, artifact: str, layers: Sequence[tuple[str, Sequence[Hazard]]]
) -> None:
    """Report the hazards of each (label, hazards) layer; pass each rule no member broke."""
    by_kind: dict[str, list[tuple[str, Hazard]]] = {kind: [] for kind in HAZARD_KINDS}
    for label, hazards in layers:
        for hazard in hazards:
            by_kind[hazard.kind].append((label, hazard))
    for kind, found in by_kind.items():
        check = f"container.{kind}"
        if not found:
            findings.ok(check, artifact, _OK[kind])
            continue
        for label, hazard in found[:MAX_SHOWN]:
            message = f"{label}: {hazard.message}" if label else hazard.message
            if hazard.severe:
                findings.fail(check, artifact, message)
            else:
                findings.warn(check, artifact, message)
        if len(found) > MAX_SHOWN:
            more = found[MAX_SHOWN:]
            status = findings.fail if any(h.severe for _, h in more) else findings.warn
            status(check, artifact, f"and {len(more)} more")
