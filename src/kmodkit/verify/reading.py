"""Read one package file, run its container and metadata checks, then release its file data.

Memory stays bounded by one package, not by the number of packages: the file is read only if
it is a regular file within MAX_PACKAGE_FILE_BYTES, everything unpacked from it shares one
MAX_UNPACKED_BYTES budget, and once its own checks ran only what the cross-package checks need
is kept (the modinfo of each .ko and the small /etc/modules.d lists).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kmodkit.limits import (
    MAX_AUTOLOAD_FILE_BYTES,
    MAX_PACKAGE_FILE_BYTES,
    exceeded,
    unpack_budget,
)
from kmodkit.safeio import read_regular_file
from kmodkit.verify.checks_apk import read_apk_view
from kmodkit.verify.checks_elf import check_elf_arch
from kmodkit.verify.checks_ipk import check_ipk, ipk_meta_facts
from kmodkit.verify.checks_kernel import read_modules
from kmodkit.verify.checks_meta import MetaFacts, check_metadata
from kmodkit.verify.checks_modules import MODULES_D
from kmodkit.verify.model import Findings, VerifyOptions
from kmodkit.verify.views import PackageView


def read_package(
    path: Path, artifact: str, findings: Findings, options: VerifyOptions
) -> PackageView | None:
    """Read one .ipk/.apk and run its container and metadata checks."""
    try:
        data = read_regular_file(path, MAX_PACKAGE_FILE_BYTES, "MAX_PACKAGE_FILE_BYTES")
    except OSError as exc:
        findings.fail("input.unreadable", artifact, f"cannot read: {exc.strerror or exc}")
        return None
    digest = hashlib.sha256(data).hexdigest()
    meta: MetaFacts | None
    with unpack_budget():
        if path.name.endswith(".ipk"):
            facts = check_ipk(data, artifact, findings)
            meta = ipk_meta_facts(facts, path.name) if facts is not None else None
        else:
            meta = read_apk_view(data, artifact, path.name, findings)
    if meta is None:
        return None
    meta.view.size = len(data)
    meta.view.sha256 = digest
    del data
    check_metadata(meta, findings, release=options.release, target=options.target)
    release_file_data(meta.view, findings)
    return meta.view


def release_file_data(view: PackageView, findings: Findings) -> None:
    """Parse the .ko files now and drop file bytes the cross-package checks never read."""
    view.modules = read_modules([view], findings).get(view.artifact, {})
    check_elf_arch([view], findings)
    kept: dict[str, bytes] = {}
    for path, data in view.files.items():
        if path.startswith(MODULES_D) and data:
            if len(data) > MAX_AUTOLOAD_FILE_BYTES:
                what = f"/{path} ({len(data)} bytes)"
                message = exceeded("MAX_AUTOLOAD_FILE_BYTES", MAX_AUTOLOAD_FILE_BYTES, what)
                findings.fail("autoload.modules", view.artifact, message)
                data = b""
            kept[path] = data
        else:
            kept[path] = b""
    view.files = kept
