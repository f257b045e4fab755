"""Metadata checks shared by ipk and apk: fields, names, versions, arch, release, sizes, deps.

Release-aware where OpenWrt changed its rules (facts §1, §7): Installed-Size is the
data.tar.gz size up to 23.05 and the data.tar size from 24.10; kmod versions and the kernel
dependency changed scheme in 24.10; apk replaced ipk in 25.12.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from kmodkit.catalog.tables import Release, lookup_release, lookup_target, targets
from kmodkit.errors import FormatError, UsageError
from kmodkit.formats.control import ascii_uint
from kmodkit.formats.model import package_filename
from kmodkit.verify import managers
from kmodkit.verify.model import Findings
from kmodkit.verify.views import PackageView, parse_kernel_dep_version

_NAME = re.compile(r"^[a-z0-9][a-z0-9+.\-_]*$")

NOARCH = {"all", "noarch"}


@dataclass
class MetaFacts:
    """Format-specific facts the shared checks judge."""

    view: PackageView
    filename: str
    missing: list[str] = field(default_factory=list)  # required fields absent
    malformed: list[str] = field(default_factory=list)
    depends_raw: str = ""
    license: str = ""
    source_date_epoch: str | None = None
    installed_size: int | None = None
    installed_size_expected: dict[str, int] = field(default_factory=dict)  # label -> size


def catalog_release(release: str) -> Release:
    """The catalog's release (``24.10.2`` -> 24.10, ``SNAPSHOT-r12345`` -> snapshot);
    UsageError naming the known releases otherwise."""
    name = release.strip()
    if name.lower().startswith("snapshot"):
        name = "snapshot"
    return lookup_release(name)


def target_arch(target: str) -> str:
    """Package arch for a target (``x86_64``, ``x86/64``, ``x86-64``) from the catalog's
    table; a package arch several targets share (``mips_24kc``) is its own answer here.
    UsageError for a target the catalog does not know."""
    try:
        return lookup_target(target).pkg_arch
    except UsageError:
        if target.strip() in {t.pkg_arch for t in targets().values()}:
            return target.strip()
        raise


def check_metadata(
    facts: MetaFacts, findings: Findings, *, release: str | None, target: str | None
) -> None:
    view = facts.view
    art = view.artifact
    problems = [f"missing {name}" for name in facts.missing] + facts.malformed
    if view.name and not _NAME.match(view.name):
        problems.append(f"package name {view.name!r} has characters opkg/apk reject")
    for p in problems:
        findings.fail("meta.fields", art, p)
    if not problems:
        findings.ok("meta.fields", art, "required fields present")

    fmt: Literal["ipk", "apk"] = "ipk" if view.manager == "opkg" else "apk"
    expected = package_filename(fmt, view.name, view.version, view.arch)
    if facts.filename == expected:
        findings.ok("meta.name", art, "file name matches name/version/arch")
    elif facts.filename.endswith(("-" + expected, "_" + expected)) or _infixed(
        facts.filename, expected
    ):
        # a renamed copy (e.g. a release prefix added when it was downloaded): the
        # canonical name is intact at the end; feed indexes are held to the exact name
        findings.ok("meta.name", art, f"file name ends with the canonical {expected}")
    else:
        findings.fail("meta.name", art, f"file name {facts.filename!r}, metadata says {expected!r}")

    if not managers.version_valid(view.manager, view.version):
        findings.fail(
            "meta.version", art, f"{view.version!r} is not a valid {view.manager} version"
        )
    else:
        findings.ok("meta.version", art, f"{view.version} is a valid {view.manager} version")

    want = None
    if target:
        try:
            want = target_arch(target)
        except UsageError as exc:
            findings.fail("meta.arch", art, str(exc))
    if target and want is not None:
        if view.arch in NOARCH or view.arch == want:
            findings.ok("meta.arch", art, f"arch {view.arch} fits target {target}")
        else:
            findings.fail("meta.arch", art, f"arch {view.arch!r}, target {target} needs {want!r}")
    elif view.arch:
        findings.ok("meta.arch", art, f"arch {view.arch} (no --target to compare with)")

    try:
        view.depends = managers.parse_depends(view.manager, facts.depends_raw, f"{art}:Depends")
        findings.ok("meta.depends", art, f"{len(view.depends)} dependencies parse")
    except FormatError as exc:
        findings.fail("meta.depends", art, str(exc))

    rel = None
    if release:
        try:
            rel = catalog_release(release)
        except UsageError as exc:
            findings.fail("meta.release", art, str(exc))
    if rel is not None:
        _check_release(facts, findings, rel)
    _check_installed_size(facts, findings, rel)

    if facts.source_date_epoch == "n/a":
        findings.ok("meta.source-date-epoch", art, "no files to date")
    elif facts.source_date_epoch is None:
        findings.warn("meta.source-date-epoch", art, "no SourceDateEpoch (not reproducible-proof)")
    elif ascii_uint(facts.source_date_epoch) is None:
        findings.fail("meta.source-date-epoch", art, f"SourceDateEpoch {facts.source_date_epoch!r}")
    else:
        findings.ok("meta.source-date-epoch", art, f"SourceDateEpoch {facts.source_date_epoch}")

    if facts.license.strip():
        findings.ok("meta.license", art, f"license {facts.license}")
    else:
        findings.fail("meta.license", art, "no License declared")


def _infixed(filename: str, expected: str) -> bool:
    """``name-1.0.uncompressed.apk`` for ``name-1.0.apk``: a tagged copy of the same file."""
    stem, dot, suffix = expected.rpartition(".")
    return bool(dot) and filename.startswith(stem + ".") and filename.endswith("." + suffix)


def _check_release(facts: MetaFacts, findings: Findings, release: Release) -> None:
    """Version schemes of the release (facts §1). Only opkg packages changed scheme: apk's
    grammar always needs ``-rN`` and ``~hash``. Which manager a release uses is not judged:
    kmodkit deliberately builds both formats for a distro kernel."""
    view = facts.view
    problems = []
    new_scheme = view.manager == "apk" or release.version_scheme == "r1"
    if view.name.startswith("kmod-") and view.manager == "opkg":
        ok = re.search(r"-r\d+$", view.version) if new_scheme else re.search(r"-\d+$", view.version)
        if not ok:
            form = "<kver>-r<N>" if new_scheme else "<kver>-<N>"
            problems.append(f"kmod version {view.version!r} is not {release.name}'s {form}")
    for group in view.depends:
        for dep in group:
            if dep.name != "kernel" or not dep.version:
                continue
            parsed = parse_kernel_dep_version(dep.version)
            if parsed is not None and (parsed.scheme == "new") != new_scheme:
                problems.append(f"kernel dependency {dep.version!r} uses another release's scheme")
    for p in problems:
        findings.fail("meta.release", view.artifact, p)
    if not problems:
        findings.ok("meta.release", view.artifact, f"follows release {release.name}")


def _check_installed_size(facts: MetaFacts, findings: Findings, release: Release | None) -> None:
    art = facts.view.artifact
    expected = dict(facts.installed_size_expected)
    if facts.view.manager == "opkg" and release is not None and len(expected) > 1:
        label = release.installed_size_mode  # "data.tar.gz" up to 23.05, then "data.tar"
        expected = {label: expected[label]} if label in expected else expected
    if facts.installed_size is None:
        return  # reported as a missing field
    matches = [label for label, size in expected.items() if size == facts.installed_size]
    if matches or not expected:
        findings.ok(
            "meta.installed-size",
            art,
            f"{facts.installed_size} = {matches[0]} size" if matches else f"{facts.installed_size}",
        )
    else:
        want = ", ".join(f"{size} ({label})" for label, size in expected.items())
        findings.fail(
            "meta.installed-size", art, f"declared {facts.installed_size}, expected {want}"
        )
