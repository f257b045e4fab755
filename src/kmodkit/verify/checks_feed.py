"""Feed checks: index entries against files, coverage, duplicates, dependencies, signatures.

Results of a feed are attributed to its index file (``<dir>/Packages``, ``<dir>/packages.adb``)
and every message names the package or file at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.errors import FormatError, KmodkitError
from kmodkit.formats import control, opkg_feed, usign
from kmodkit.formats.model import package_filename
from kmodkit.limits import MAX_KEY_FILE_BYTES
from kmodkit.safeio import read_regular_file
from kmodkit.verify import managers
from kmodkit.verify.model import Findings
from kmodkit.verify.views import Dep, Manager, PackageView


@dataclass
class IndexEntry:
    """One package as an index describes it."""

    name: str
    version: str
    arch: str = ""
    filename: str = ""
    size: int | None = None
    sha256: str = ""  # opkg SHA256sum
    adb_hash: str = ""  # apk hashes (hex)
    depends: list[list[Dep]] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


@dataclass
class Keys:
    """Trusted public keys and where they came from (said in signature messages)."""

    usign: list[usign.UsignPublicKey] = field(default_factory=list)
    apk: list[object] = field(default_factory=list)  # cryptography public keys
    source: str = ""
    shipped: dict[bytes, str] = field(default_factory=dict)  # key id -> file inside the inputs

    def report_verified(self, findings: Findings, art: str, key_id: bytes, message: str) -> None:
        """A verified signature passes only when its key was trusted from outside the inputs."""
        where = self.shipped.get(key_id)
        if where is None:
            findings.ok("feed.signature", art, f"{message}{self.source}")
            return
        findings.warn(
            "feed.signature",
            art,
            f"{message} only against {where}, a key shipped inside the verified tree "
            "(anyone who rewrites the feed can ship their own): pass --keys DIR of trusted keys",
        )


# ---------------------------------------------------------------- opkg Packages


def parse_packages_index(data: bytes | str, where: str) -> list[IndexEntry]:
    """A Packages file (formats.opkg_feed, the one reader) as index entries; FormatError
    naming the line on bad syntax or a Size that is not a number."""
    entries: list[IndexEntry] = []
    for stanza in opkg_feed.parse_packages(data, where):
        fields = dict(stanza.fields)
        name = fields["Package"]
        size = fields.get("Size", "")
        size_value = control.ascii_uint(size) if size else None
        if size and size_value is None:
            raise FormatError(
                f"line {stanza.first_line}: {name}: Size {size!r} is not a number", where=where
            )
        entries.append(
            IndexEntry(
                name=name,
                version=fields.get("Version", ""),
                arch=fields.get("Architecture", ""),
                filename=fields.get("Filename", ""),
                size=size_value,
                sha256=fields.get("SHA256sum", "").lower(),
                depends=managers.parse_depends("opkg", fields.get("Depends", ""), where),
                provides=[p.strip() for p in fields.get("Provides", "").split(",") if p.strip()],
            )
        )
    return entries


def check_usign(
    index_bytes: bytes, sig_path: Path, keys: Keys, art: str, findings: Findings
) -> None:
    if not sig_path.is_file():
        findings.fail("feed.signature", art, f"unsigned: {sig_path.name} is missing")
        return
    try:
        text = read_regular_file(sig_path, MAX_KEY_FILE_BYTES, "MAX_KEY_FILE_BYTES").decode()
        sig = usign.read_signature(text, str(sig_path))
    except (OSError, UnicodeDecodeError, KmodkitError) as exc:
        findings.fail("feed.signature", art, f"{sig_path.name} unreadable: {exc}")
        return
    if not keys.usign:
        findings.warn(
            "feed.signature",
            art,
            f"signed by key {sig.key_id_hex}, but no trusted usign key to verify it (--keys)",
        )
        return
    candidates = [k for k in keys.usign if k.key_id == sig.key_id]
    if not candidates:
        have = ", ".join(k.key_id_hex for k in keys.usign)
        findings.fail(
            "feed.signature", art, f"signed by untrusted key {sig.key_id_hex} (trusted: {have})"
        )
        return
    if any(usign.verify(index_bytes, sig, k) for k in candidates):
        keys.report_verified(
            findings, art, sig.key_id, f"usign signature by {sig.key_id_hex} verifies"
        )
    else:
        findings.fail(
            "feed.signature", art, f"{sig_path.name} does not verify (key {sig.key_id_hex})"
        )


# ---------------------------------------------------------------- shared


def check_entries_against_files(
    manager: Manager,
    entries: Sequence[IndexEntry],
    files: dict[str, PackageView | None],
    art: str,
    findings: Findings,
) -> None:
    """feed.missing, feed.size, feed.sha256 / feed.adb-hash, feed.entry, feed.duplicate,
    feed.unindexed. ``files`` maps each package file name in the directory to its view (None
    when the file could not be decoded)."""
    seen: dict[tuple[str, str], int] = {}
    indexed: set[str] = set()
    for entry in entries:
        key = (entry.name, entry.version)
        seen[key] = seen.get(key, 0) + 1
        fname = entry.filename or package_filename(
            "ipk" if manager == "opkg" else "apk", entry.name, entry.version, entry.arch
        )
        if manager == "opkg" and not entry.filename:  # opkg downloads only by Filename
            findings.fail(
                "feed.entry", art, f"{entry.name} {entry.version}: no Filename (want {fname})"
            )
        indexed.add(fname)
        if fname not in files:
            findings.fail("feed.missing", art, f"{entry.name} {entry.version}: {fname} not found")
            continue
        view = files[fname]
        if view is None:
            continue  # its own checks already say why it cannot be read
        if entry.size is not None and entry.size != view.size:
            findings.fail(
                "feed.size", art, f"{fname}: index says {entry.size} bytes, file has {view.size}"
            )
        if manager == "opkg":
            if entry.sha256 != view.sha256:
                findings.fail(
                    "feed.sha256",
                    art,
                    f"{fname}: SHA256sum {entry.sha256 or '(none)'} != file's {view.sha256}",
                )
        elif view.adb_hash and entry.adb_hash != view.adb_hash:
            findings.fail(
                "feed.adb-hash",
                art,
                f"{fname}: index hash {entry.adb_hash or '(none)'} != package's {view.adb_hash}",
            )
        mismatch = [
            f"{label} {a!r} vs package's {b!r}"
            for label, a, b in (
                ("name", entry.name, view.name),
                ("version", entry.version, view.version),
                ("arch", entry.arch, view.arch),
            )
            if a and a != b
        ]
        if mismatch:
            findings.fail("feed.entry", art, f"{fname}: index {', '.join(mismatch)}")
    hash_check = "feed.sha256" if manager == "opkg" else "feed.adb-hash"
    for check in ("feed.missing", "feed.size", hash_check, "feed.entry"):
        findings.ok(check, art, f"{len(entries)} entries")
    dups = [f"{n} {v} x{c}" for (n, v), c in seen.items() if c > 1]
    for d in dups:
        findings.fail("feed.duplicate", art, f"listed more than once: {d}")
    if not dups:
        findings.ok("feed.duplicate", art, "no duplicate name/version")
    unindexed = []
    for fname, view in sorted(files.items()):
        if fname in indexed:
            continue
        if view is not None and view.name == "kernel":
            findings.ok("feed.unindexed", art, f"{fname} is the virtual kernel package (kept out)")
            continue
        unindexed.append(fname)
        findings.fail("feed.unindexed", art, f"{fname} is not in the index")
    if not unindexed:
        findings.ok("feed.unindexed", art, "every package file is indexed")


def check_feed_deps(
    manager: Manager,
    entries: Sequence[IndexEntry],
    providers: Sequence[IndexEntry],
    art: str,
    findings: Findings,
) -> None:
    """Every Depends group of every entry has an alternative that resolves with its version."""
    by_name: dict[str, list[IndexEntry]] = {}
    for p in providers:
        by_name.setdefault(p.name, []).append(p)
        for prov in p.provides:
            name, _, version = prov.partition("=")
            by_name.setdefault(name.strip(), []).append(
                IndexEntry(name.strip(), version.strip() or p.version)
            )
    bad = 0
    for entry in entries:
        for group in entry.depends:
            if any(_resolves(manager, dep, by_name) for dep in group):
                continue
            bad += 1
            wanted = " | ".join(dep_text(manager, d) for d in group)
            have = sorted({f"{c.name} {c.version}" for d in group for c in by_name.get(d.name, [])})
            detail = f" (available: {', '.join(have)})" if have else " (no such package)"
            findings.fail("feed.deps", art, f"{entry.name}: dependency {wanted} unresolved{detail}")
    if not bad:
        findings.ok("feed.deps", art, f"all dependencies of {len(entries)} packages resolve")


def dep_text(manager: Manager, dep: Dep) -> str:
    """A dependency as the manager writes it: ``a (>=1)`` for opkg, ``a>=1`` for apk."""
    if manager == "apk":
        return f"{'!' if dep.op == '!' else ''}{dep.name}" + (
            f"{dep.op}{dep.version}" if dep.op and dep.op != "!" else ""
        )
    return str(dep)


def _resolves(manager: Manager, dep: Dep, by_name: dict[str, list[IndexEntry]]) -> bool:
    if dep.op == "!":
        return True  # a conflict is satisfied by absence; installability is apk's call
    return any(
        managers.satisfies(manager, c.version, dep.op, dep.version)
        for c in by_name.get(dep.name, [])
    )


def entry_from_view(view: PackageView) -> IndexEntry:
    return IndexEntry(
        view.name, view.version, view.arch, depends=view.depends, provides=view.provides
    )


def check_no_kernel_package(entries: Sequence[IndexEntry], art: str, findings: Findings) -> None:
    """A kmod feed must not offer ``kernel``: apk would then replace the device's kernel and
    every kmod with the feed's (openwrt/openwrt#16808)."""
    offered = sorted(e.version for e in entries if e.name == "kernel")
    if offered:
        findings.fail(
            "feed.kernel-package",
            art,
            f"the index offers kernel {', '.join(offered)}: a device would replace its kernel "
            "and every kmod (openwrt/openwrt#16808)",
        )
    else:
        findings.ok("feed.kernel-package", art, "no kernel package offered")
