"""apk v3 checks: container (blocks, schema, DATA vs file list, unique id), metadata facts,
and packages.adb feeds (entries, hashes, signatures)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from kmodkit.errors import KmodkitError
from kmodkit.formats import apk_index
from kmodkit.formats.apk import read_apk
from kmodkit.formats.apk_read import apk_hazards
from kmodkit.formats.model import package_filename
from kmodkit.limits import MAX_INDEX_FILE_BYTES
from kmodkit.safeio import read_regular_file
from kmodkit.verify import checks_feed as feed
from kmodkit.verify import managers
from kmodkit.verify.checks_meta import MetaFacts
from kmodkit.verify.checks_paths import check_members
from kmodkit.verify.discover import FeedDir
from kmodkit.verify.model import Findings
from kmodkit.verify.views import Dep, PackageView

_PROBLEM_CHECKS = (
    (("data", "hash mismatch", "sha256", "size"), "apk.data-hash"),
    (("unique", "hashes"), "apk.unique-id"),
    (("block", "align", "padding", "magic"), "apk.container.blocks"),
)


def _problem_check(text: str) -> str:
    low = text.lower()
    for words, check in _PROBLEM_CHECKS:
        if any(w in low for w in words):
            return check
    return "apk.container.schema"


def read_apk_view(data: bytes, art: str, filename: str, findings: Findings) -> MetaFacts | None:
    """Container checks of one .apk; its metadata facts, or None when it cannot be decoded."""
    try:
        pkg = read_apk(data, art)
    except KmodkitError as exc:
        text = str(exc)
        check = "apk.container.schema" if "schema" in text.lower() else "apk.container.blocks"
        findings.fail(check, art, text)
        return None
    for problem in pkg.problems:
        findings.fail(_problem_check(problem), art, problem)
    check_members(findings, art, [("", apk_hazards(pkg))])
    order = [b.type for b in pkg.blocks]
    findings.ok("apk.container.blocks", art, f"{' '.join(order)} ({pkg.compression})")
    findings.ok("apk.container.schema", art, "package schema decodes")
    if pkg.data_ok:
        findings.ok("apk.data-hash", art, "DATA blocks match the file list and hashes")
    else:
        findings.fail("apk.data-hash", art, "DATA blocks do not match the ADB file list/hashes")
    if pkg.unique_id_ok:
        findings.ok("apk.unique-id", art, f"unique id {pkg.unique_id.hex()}")
    else:
        findings.fail("apk.unique-id", art, "info.hashes is not the hash of the ADB block")
    files = {e.path: e.data for e in pkg.entries if e.kind == "file"}
    view = PackageView(
        artifact=art,
        manager="apk",
        name=pkg.name,
        version=pkg.version,
        arch=pkg.arch,
        provides=list(pkg.provides),
        files=files,
        adb_hash=hashlib.sha256(pkg.adb_payload).hexdigest(),
    )
    meta = MetaFacts(view=view, filename=filename)
    meta.missing = [
        label
        for label, value in (("name", pkg.name), ("version", pkg.version), ("arch", pkg.arch))
        if not value
    ]
    meta.depends_raw = " ".join(pkg.depends)
    meta.license = pkg.license
    meta.installed_size = pkg.installed_size
    if pkg.installed_size is None and files:
        meta.missing.append("installed-size")
    # apk mkpkg never writes 0: an installed-size of 0 marks a virtual package in apk-tools.
    total = sum(f.size or 0 for f in pkg.files if f.kind == "file")
    meta.installed_size_expected = {"regular files": total or 1}
    mtimes = {f.mtime for f in pkg.files if f.mtime is not None}
    if len(mtimes) == 1:
        meta.source_date_epoch = str(mtimes.pop())
    elif not mtimes:
        meta.source_date_epoch = "n/a"  # nothing to date: no files
    return meta


@dataclass
class ApkIndexFacts:
    """A decoded packages.adb (formats.apk_index) as verify's feed entries."""

    index: apk_index.ApkIndex
    data: bytes
    entries: list[feed.IndexEntry] = field(default_factory=list)


def read_apk_index(data: bytes, where: str) -> ApkIndexFacts:
    """Entries and SIG blocks of a packages.adb (FormatError when it does not decode)."""
    index = apk_index.read_index(data, where)
    facts = ApkIndexFacts(index=index, data=data)
    for pkg in index.packages:
        entry = feed.IndexEntry(
            name=pkg.name,
            version=pkg.version,
            arch=pkg.arch,
            filename=package_filename("apk", pkg.name, pkg.version, pkg.arch),
            size=pkg.file_size,
            adb_hash=pkg.sha256.hex(),
        )
        # an empty or blank dependency name parses to no group: keep it, so feed.deps names it
        entry.depends = [
            groups[0] if (groups := managers.parse_depends("apk", t, where)) else [Dep(t)]
            for t in pkg.depends
        ]
        entry.provides = list(pkg.provides)
        facts.entries.append(entry)
    return facts


def check_apk_signature(
    index: ApkIndexFacts, keys: feed.Keys, art: str, findings: Findings
) -> None:
    signatures = index.index.signatures
    if not signatures:
        findings.fail("feed.signature", art, "unsigned: packages.adb has no SIG block")
        return
    if not keys.apk:
        ids = ", ".join(sig.key_id.hex() for sig in signatures)
        findings.warn(
            "feed.signature", art, f"signed by key {ids}, but no trusted apk key to verify (--keys)"
        )
        return
    result = apk_index.verify_index(index.data, keys.apk)  # type: ignore[arg-type]
    if result.ok and result.key_id is not None:
        keys.report_verified(findings, art, result.key_id, f"SIG by {result.key_id.hex()} verifies")
    else:
        findings.fail("feed.signature", art, result.reason or "no valid SIG block")


def check_apk_feed(
    fd: FeedDir,
    files: dict[str, PackageView | None],
    keys: feed.Keys,
    base_entries: Sequence[feed.IndexEntry],
    kernels: Sequence[PackageView],
    findings: Findings,
) -> None:
    path = fd.path / "packages.adb"
    art = str(path)
    try:
        raw = read_regular_file(path, MAX_INDEX_FILE_BYTES, "MAX_INDEX_FILE_BYTES")
        index = read_apk_index(raw, art)
    except OSError as exc:
        findings.fail("input.unreadable", art, f"cannot read: {exc.strerror or exc}")
        return
    except KmodkitError as exc:
        findings.fail("feed.index", art, str(exc))
        return
    findings.ok("feed.index", art, f"{len(index.entries)} entries")
    feed.check_entries_against_files("apk", index.entries, files, art, findings)
    feed.check_no_kernel_package(index.entries, art, findings)
    providers = [*index.entries, *base_entries, *(feed.entry_from_view(k) for k in kernels)]
    feed.check_feed_deps("apk", index.entries, providers, art, findings)
    check_apk_signature(index, keys, art, findings)
