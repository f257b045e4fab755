"""ipk container checks (scripts/ipkg-build layout) and the ipk's PackageView.

Structure is judged on the raw facts formats.gzipio/tarball keep (gzip header fields, tar
header magic, PAX headers, owners, order), so an ipk kmodkit did not build (an official one,
another team's) is judged by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from kmodkit.errors import FormatError
from kmodkit.formats.control import ascii_uint, read_control
from kmodkit.formats.gzipio import gzip_decompress
from kmodkit.formats.ipk import DEBIAN_BINARY, OUTER_MEMBERS
from kmodkit.formats.tarball import TarLayer, read_tar, tar_hazards
from kmodkit.verify.checks_meta import MetaFacts
from kmodkit.verify.checks_paths import check_members
from kmodkit.verify.model import Findings
from kmodkit.verify.views import PackageView

OUTER_ORDER = list(OUTER_MEMBERS)


@dataclass
class IpkFacts:
    """What the metadata checks need beyond the view."""

    view: PackageView
    fields: dict[str, str]
    field_order: list[str]
    sizes: dict[str, int] = field(default_factory=dict)  # "data.tar.gz" / "data.tar" sizes
    mtimes: set[int] = field(default_factory=set)


def _gz_tar(blob: bytes, label: str, where: str) -> tuple[TarLayer, int, list[str]]:
    """The tar inside a gzip stream, its size and what its gzip header does wrong."""
    tar_bytes, header = gzip_decompress(blob, where)
    layer = read_tar(tar_bytes, where)
    if not layer.terminated:
        raise FormatError(
            f"tar archive truncated (no end-of-archive block at offset {len(tar_bytes)})",
            where=where,
        )
    return layer, len(tar_bytes), _gzip_problems(header.has_filename, header.mtime, label)


def check_ipk(data: bytes, artifact: str, findings: Findings) -> IpkFacts | None:
    """Run the container checks; return the facts, or None when the file cannot be decoded."""
    try:
        outer, _, gzip_problems = _gz_tar(data, "outer", f"{artifact}:outer")
    except FormatError as exc:
        kind = "an ar archive (opkg-lede reads gzip'd tar)" if data[:8] == b"!<arch>\n" else ""
        findings.fail("ipk.container.outer", artifact, kind or str(exc))
        return None
    names = [m.name for m in outer.members]
    # opkg also accepts members without "./": judge that as order/naming, not as missing
    by_name = {"./" + m.name.removeprefix("./"): m for m in outer.members}
    missing = [n for n in OUTER_ORDER if n not in by_name]
    if missing:
        findings.fail("ipk.container.outer", artifact, f"missing member(s) {', '.join(missing)}")
        return None
    if by_name["./debian-binary"].data != DEBIAN_BINARY:
        findings.fail("ipk.container.outer", artifact, "./debian-binary is not '2.0\\n'")
    else:
        findings.ok("ipk.container.outer", artifact, "gzip'd tar with debian-binary 2.0")
    if names != OUTER_ORDER:
        findings.fail(
            "ipk.container.member-order", artifact, f"members {names}, expected {OUTER_ORDER}"
        )
    else:
        findings.ok("ipk.container.member-order", artifact)
    tar_problems = _tar_problems(outer, "outer tar", sort=False)
    inner: dict[str, TarLayer] = {}
    sizes: dict[str, int] = {"data.tar.gz": len(by_name["./data.tar.gz"].data)}
    for member in ("./control.tar.gz", "./data.tar.gz"):
        label = member[2:]
        try:
            inner[label], tar_size, problems = _gz_tar(
                by_name[member].data, label, f"{artifact}:{label}"
            )
        except FormatError as exc:
            findings.fail("ipk.container.outer", artifact, str(exc))
            return None
        if label == "data.tar.gz":
            sizes["data.tar"] = tar_size
        gzip_problems += problems
        tar_problems += _tar_problems(inner[label], label, sort=True)
    check_members(
        findings,
        artifact,
        [
            ("outer tar", tar_hazards(outer)),
            ("control.tar.gz", tar_hazards(inner["control.tar.gz"])),
            ("data.tar.gz", tar_hazards(inner["data.tar.gz"])),
        ],
    )
    mtimes = {m.mtime for layer in (outer, *inner.values()) for m in layer.members}
    if len(mtimes) > 1:
        tar_problems.append(f"{len(mtimes)} different mtimes (expected one SOURCE_DATE_EPOCH)")
    _report(findings, "ipk.container.gzip", artifact, gzip_problems, "gzip -n headers")
    _report(findings, "ipk.container.tar-format", artifact, tar_problems, "GNU tar, 0/0, sorted")
    control = {m.name.removeprefix("./"): m for m in inner["control.tar.gz"].members}
    if "control" not in control:
        findings.fail("meta.fields", artifact, "control.tar.gz has no ./control file")
        return None
    try:
        stanza = read_control(control["control"].data.decode("utf-8"), f"{artifact}:control")
    except UnicodeDecodeError as exc:
        findings.fail("meta.fields", artifact, f"control is not UTF-8 (byte {exc.start})")
        return None
    except FormatError as exc:
        findings.fail("meta.fields", artifact, str(exc))
        return None
    for key, line in stanza.duplicates:
        findings.fail("meta.fields", artifact, f"field {key} appears twice (line {line})")
    fields = dict(stanza.fields)
    files = {
        m.name.removeprefix("./"): m.data
        for m in inner["data.tar.gz"].members
        if m.kind == "file" and m.name.removeprefix("./")
    }
    view = PackageView(
        artifact=artifact,
        manager="opkg",
        name=fields.get("Package", ""),
        version=fields.get("Version", ""),
        arch=fields.get("Architecture", ""),
        provides=[p.strip() for p in fields.get("Provides", "").split(",") if p.strip()],
        files=files,
    )
    return IpkFacts(view, fields, stanza.order, sizes, mtimes)


def _gzip_problems(has_name: bool, mtime: int, label: str) -> list[str]:
    problems = []
    if has_name:
        problems.append(f"{label} gzip header stores a file name")
    if mtime:
        problems.append(f"{label} gzip header mtime is {mtime}, not 0")
    return problems


def _tar_problems(layer: TarLayer, label: str, *, sort: bool) -> list[str]:
    problems: list[str] = []
    owners: set[str] = set()
    names: set[str] = set()
    for m in layer.members:  # one pass: feeds hold thousands of these
        if m.uid or m.gid:
            owners.add(f"{m.uid}/{m.gid}")
        if m.uname or m.gname:
            names.update(n for n in (m.uname, m.gname) if n and n != "root")
    if layer.pax_headers:
        problems.append(f"{label} has PAX headers (opkg-lede leaves PaxHeaders junk)")
    if layer.header_formats - {"gnu", "ustar"}:
        formats = ", ".join(sorted(layer.header_formats))
        problems.append(f"{label} is not GNU/ustar format ({formats})")
    if owners:
        problems.append(f"{label} has non-root owners {', '.join(sorted(owners))}")
    if names:
        problems.append(f"{label} stores owner names {', '.join(sorted(names))}")
    if sort:
        # tar --sort=name sorts within each directory while recursing: compare by components.
        # Mapping "/" to NUL (never inside a tar name) makes plain string order equal to
        # component-wise order, without building a list per name.
        keys = [m.name.rstrip("/").replace("/", "\0") for m in layer.members]
        if any(a > b for a, b in pairwise(keys)):
            problems.append(f"{label} entries are not sorted by name")
    return problems


def _report(findings: Findings, check: str, artifact: str, problems: list[str], ok: str) -> None:
    for problem in problems:
        findings.fail(check, artifact, problem)
    if not problems:
        findings.ok(check, artifact, ok)


REQUIRED_FIELDS = ("Package", "Version", "Architecture", "Installed-Size", "Description")


def ipk_meta_facts(facts: IpkFacts, filename: str) -> MetaFacts:
    fields = facts.fields
    meta = MetaFacts(view=facts.view, filename=filename)
    meta.missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    size = fields.get("Installed-Size", "")
    meta.installed_size = ascii_uint(size) if size else None
    if size and meta.installed_size is None:
        meta.malformed.append(f"Installed-Size {size!r} is not a number")
    meta.depends_raw = fields.get("Depends", "")
    meta.license = fields.get("License", "")
    meta.source_date_epoch = fields.get("SourceDateEpoch")
    meta.installed_size_expected = dict(facts.sizes)
    return meta
