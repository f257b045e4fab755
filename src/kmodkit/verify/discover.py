"""Turn command-line inputs into artifacts: package files, feed directories and trusted keys.

A path is an .ipk, an .apk, a feed directory (holding ``Packages`` or ``packages.adb``), an
index file itself, or any tree (e.g. ``dist/``) searched for those. Public keys found in a tree
are collected too: ``invoke build`` puts its keys next to its feeds.

Walking a tree skips kmodkit's own temporaries (``fsutil.is_temp_name``: the
``.NAME.kmodkit-<pid>-*.tmp`` siblings of atomic directories and files, and the ``.NAME.*.tmp`` /
``.NAME.old`` names earlier kmodkit versions used): a killed build's half-written copy is not
part of what is being verified. A path given explicitly is always
verified (the build verifies its temporary directory before renaming it into place).
"""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kmodkit.fsutil import is_temp_name
from kmodkit.limits import MAX_KEY_FILE_BYTES
from kmodkit.safeio import not_regular, read_regular_file

FeedKind = Literal["opkg", "apk"]
PACKAGE_SUFFIXES = (".ipk", ".apk")
INDEX_NAMES: dict[str, FeedKind] = {"Packages": "opkg", "packages.adb": "apk"}
# what fsutil named its temporaries before they carried the owner's pid (killed builds of
# those versions may have left them): mkdtemp(prefix=".NAME.", suffix=".tmp") and ".NAME.old"
_EARLIER_TEMPORARY = re.compile(r"^\..+\.(?:[A-Za-z0-9_]{8}\.tmp|old)$")


def is_kmodkit_temporary(name: str) -> bool:
    """Is ``name`` one of fsutil's temporaries (never part of what is verified)?"""
    return is_temp_name(name) or _EARLIER_TEMPORARY.match(name) is not None


@dataclass(frozen=True)
class FeedDir:
    """A directory with an index; ``files`` are the package files found in it (sorted)."""

    path: Path
    kind: FeedKind
    files: tuple[Path, ...]


@dataclass
class Inputs:
    """Everything found under the given paths, plus the inputs that could not be read."""

    packages: list[Path] = field(default_factory=list)  # loose .ipk/.apk outside any feed
    feeds: list[FeedDir] = field(default_factory=list)
    usign_keys: list[Path] = field(default_factory=list)
    apk_keys: list[Path] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def discover(paths: Sequence[Path]) -> Inputs:
    """Classify every path; never raises for bad input (problems land in ``unreadable``)."""
    found = Inputs()
    seen: set[Path] = set()
    for path in paths:
        try:
            _discover_one(path, found, seen)
        except OSError as exc:
            found.unreadable.append((str(path), exc.strerror or str(exc)))
    return found


def _discover_one(path: Path, found: Inputs, seen: set[Path]) -> None:
    if not path.exists() and not path.is_symlink():
        found.unreadable.append((str(path), "no such file or directory"))
        return
    if path.is_file():
        if path.name in INDEX_NAMES:
            _add_feed(path.parent, found, seen)
        elif path.suffix in PACKAGE_SUFFIXES:
            _add_package(path, found, seen)
        else:
            found.unreadable.append((str(path), "not an .ipk, .apk, Packages or packages.adb file"))
        return
    if not path.is_dir():
        found.unreadable.append((str(path), "neither a regular file nor a directory"))
        return
    if not os.access(path, os.R_OK | os.X_OK):
        found.unreadable.append((str(path), "permission denied"))
        return
    before = (len(found.packages), len(found.feeds))
    for dirpath, dirnames, filenames in os.walk(path, onerror=_raise):
        dirnames[:] = sorted(d for d in dirnames if not is_kmodkit_temporary(d))
        filenames = [f for f in filenames if not is_kmodkit_temporary(f)]
        here = Path(dirpath)
        names = set(filenames)
        if any(n in names for n in INDEX_NAMES):
            _add_feed(here, found, seen)
        else:
            for name in sorted(filenames):
                if name.endswith(PACKAGE_SUFFIXES):
                    _add_package(here / name, found, seen)
        for name in sorted(filenames):
            _classify_key(here / name, found)
    if (len(found.packages), len(found.feeds)) == before and not _already_covered(path, seen):
        found.unreadable.append(
            (str(path), "no .ipk, .apk, Packages or packages.adb found in this directory")
        )


def _raise(exc: OSError) -> None:
    raise exc


def _already_covered(path: Path, seen: set[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == s or resolved in s.parents for s in seen)


def _add_package(path: Path, found: Inputs, seen: set[Path]) -> None:
    key = path.resolve()
    if key in seen or key.parent in seen:
        return
    seen.add(key)
    found.packages.append(path)


def _add_feed(directory: Path, found: Inputs, seen: set[Path]) -> None:
    key = directory.resolve()
    if key in seen:
        return
    seen.add(key)
    names = sorted(n for n in os.listdir(directory) if not is_kmodkit_temporary(n))
    kinds = [INDEX_NAMES[n] for n in names if n in INDEX_NAMES]
    for kind in kinds:
        suffix = ".ipk" if kind == "opkg" else ".apk"
        files = tuple(directory / n for n in names if n.endswith(suffix))
        found.feeds.append(FeedDir(directory, kind, files))
    # packages of the other format in the same directory are verified on their own
    for n in names:
        suffix_kinds = {".ipk": "opkg", ".apk": "apk"}
        kind_of = next((k for s, k in suffix_kinds.items() if n.endswith(s)), None)
        if kind_of is not None and kind_of not in kinds:
            found.packages.append(directory / n)


def _classify_key(path: Path, found: Inputs) -> None:
    """Public keys only: usign ``.pub`` files and PEM public keys; secret keys are never trusted."""
    name = path.name
    if not (name.endswith((".pub", ".pem")) or path.parent.name == "keys"):
        return
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            found.unreadable.append((str(path), str(not_regular(path, mode).strerror)))
            return
        text = _read_key_text(path)
    except (OSError, UnicodeDecodeError):
        return
    if "-----BEGIN PUBLIC KEY-----" in text:
        found.apk_keys.append(path)
    elif is_usign_public_key(text):
        found.usign_keys.append(path)


def is_usign_public_key(text: str) -> bool:
    lines = text.strip().splitlines()
    if len(lines) != 2 or not lines[0].startswith("untrusted comment:"):
        return False
    try:
        raw = base64.b64decode(lines[1].strip(), validate=True)
    except ValueError:
        return False
    return len(raw) == 42 and raw[:2] == b"Ed"


def _read_key_text(path: Path) -> str:
    """A candidate key file's text (OSError if not a regular file or over MAX_KEY_FILE_BYTES)."""
    return read_regular_file(path, MAX_KEY_FILE_BYTES, "MAX_KEY_FILE_BYTES").decode("utf-8")
