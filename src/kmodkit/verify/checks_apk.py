"""apk v3 checks: container (blocks, schema, DATA vs file list, unique id), metadata facts,
and packages.adb feeds (entries, hashes, signatures)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from kmodkit.errors import KmodkitError
from kmodkit.formats import adb, apk_sign
from kmodkit.formats import apk_schema as S
from kmodkit.formats.apk import read_apk
from kmodkit.formats.depends import format_dependency
from kmodkit.verify import checks_feed as feed
from kmodkit.verify import managers
from kmodkit.verify.checks_meta import MetaFacts
from kmodkit.verify.discover import FeedDir
from kmodkit.verify.model import Findings
from kmodkit.verify.views import PackageView

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
    entries: list[feed.IndexEntry] = field(default_factory=list)
    schema: int = 0
    adb_payload: bytes = b""
    sigs: list[bytes] = field(default_factory=list)


def read_apk_index(data: bytes, where: str) -> ApkIndexFacts:
    """Entries and SIG blocks of a packages.adb (FormatError when it does not decode)."""
    container = adb.parse_container(data, where, expected_schema=adb.SCHEMA_INDEX)
    root = S.decode_root(container.adb, S.INDEX, where)
    facts = ApkIndexFacts(schema=container.schema, adb_payload=container.adb)
    facts.sigs = [b.payload for b in container.blocks if b.type == adb.BLOCK_SIG]
    packages = root.get("packages")
    for item in packages if isinstance(packages, list) else []:
        if not isinstance(item, dict):
            continue
        name, version = _s(item.get("name")), _s(item.get("version"))
        hashes = item.get("hashes")
        size = item.get("file-size")
        entry = feed.IndexEntry(
            name=name,
            version=version,
            arch=_s(item.get("arch")),
            filename=f"{name}-{version}.apk",
            size=size if isinstance(size, int) else None,
            adb_hash=hashes.hex() if isinstance(hashes, bytes) else "",
        )
        entry.depends = [
            managers.parse_depends("apk", text, where)[0] for text in _deps(item.get("depends"))
        ]
        entry.provides = list(_deps(item.get("provides")))
        facts.entries.append(entry)
    return facts


def _s(value: S.Value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _deps(value: S.Value) -> list[str]:
    out = []
    for dep in value if isinstance(value, list) else []:
        if isinstance(dep, dict) and isinstance(dep.get("name"), bytes):
            version = dep.get("version")
            match = dep.get("match")
            out.append(
                format_dependency(
                    _s(dep["name"]),
                    _s(version) if isinstance(version, bytes) else None,
                    match if isinstance(match, int) else None,
                )
            )
    return out


def check_apk_signature(
    index: ApkIndexFacts, keys: feed.Keys, art: str, findings: Findings
) -> None:
    if not index.sigs:
        findings.fail("feed.signature", art, "unsigned: packages.adb has no SIG block")
        return
    if not keys.apk:
        ids = ", ".join(p[2:18].hex() for p in index.sigs)
        findings.warn(
            "feed.signature", art, f"signed by key {ids}, but no trusted apk key to verify (--keys)"
        )
        return
    errors = []
    for payload in index.sigs:
        for key in keys.apk:
            try:
                apk_sign.verify_sig(key, index.schema, index.adb_payload, payload)  # type: ignore[arg-type]
            except KmodkitError as exc:
                errors.append(exc.message)
                continue
            kid = payload[2:18].hex()
            findings.ok("feed.signature", art, f"SIG by {kid} verifies{keys.source}")
            return
    findings.fail("feed.signature", art, "; ".join(sorted(set(errors))) or "no valid SIG block")


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
        index = read_apk_index(path.read_bytes(), art)
    except OSError as exc:
        findings.fail("input.unreadable", art, f"cannot read: {exc.strerror or exc}")
        return
    except KmodkitError as exc:
        findings.fail("feed.index", art, str(exc))
        return
    findings.ok("feed.index", art, f"{len(index.entries)} entries")
    feed.check_entries_against_files("apk", index.entries, files, art, findings)
    providers = [*index.entries, *base_entries, *(feed.entry_from_view(k) for k in kernels)]
    feed.check_feed_deps("apk", index.entries, providers, art, findings)
    check_apk_signature(index, keys, art, findings)
