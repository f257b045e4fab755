"""Installed dependencies against the versions kmodkit declares (``packaging`` does the reading).

pip honours the declared minimums, but other installers do not always: a venv made with
``--system-site-packages`` on Debian 12 sees python3-cryptography 38, which lacks the
deterministic ECDSA signing kmodkit needs (cryptography 43). Such a mismatch is one clear line
at the CLI edge instead of a TypeError deep in signing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from kmodkit.errors import KmodkitError

DISTRIBUTION = "kmodkit"


class DependencyError(KmodkitError):
    """An installed dependency does not satisfy the version kmodkit declares."""


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def unmet(
    requirements: Iterable[str], installed: Callable[[str], str | None] = installed_version
) -> list[str]:
    """One message per runtime requirement the installed versions do not satisfy.

    Requirements of extras (``; extra == "dev"``) are not runtime needs and are skipped.
    """
    problems = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        have = installed(req.name)
        if have is None:
            problems.append(f"{req.name} is not installed (kmodkit needs {req})")
            continue
        try:
            ok = req.specifier.contains(Version(have), prereleases=True)
        except InvalidVersion:
            continue
        if not ok:
            problems.append(f"{req.name} {have} is installed but kmodkit needs {req}")
    return problems


def declared_requirements() -> list[str]:
    """kmodkit's own requirements as installed (empty when running from a bare source tree)."""
    try:
        return list(metadata.requires(DISTRIBUTION) or [])
    except metadata.PackageNotFoundError:
        return []


def check_installed() -> None:
    """Raise one DependencyError naming every unmet requirement and the pip command fixing it."""
    problems = unmet(declared_requirements())
    if problems:
        raise DependencyError(
            "; ".join(problems) + " (fix: pip install -e . in the kmodkit checkout, "
            "or pip install -U the packages named)"
        )
