"""Read one package file and run its container and metadata checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kmodkit.verify.checks_apk import read_apk_view
from kmodkit.verify.checks_ipk import check_ipk, ipk_meta_facts
from kmodkit.verify.checks_meta import MetaFacts, check_metadata
from kmodkit.verify.model import Findings, VerifyOptions
from kmodkit.verify.views import PackageView


def read_package(
    path: Path, artifact: str, findings: Findings, options: VerifyOptions
) -> PackageView | None:
    """Read one .ipk/.apk and run its container and metadata checks."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        findings.fail("input.unreadable", artifact, f"cannot read: {exc.strerror or exc}")
        return None
    digest = hashlib.sha256(data).hexdigest()
    meta: MetaFacts | None
    if path.name.endswith(".ipk"):
        facts = check_ipk(data, artifact, findings)
        meta = ipk_meta_facts(facts, path.name) if facts is not None else None
    else:
        meta = read_apk_view(data, artifact, path.name, findings)
    if meta is None:
        return None
    meta.view.size = len(data)
    meta.view.sha256 = digest
    check_metadata(meta, findings, release=options.release, target=options.target)
    return meta.view
