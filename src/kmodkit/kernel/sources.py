"""Kernel sources from a distro tarball, unpacked one directory at a time and cached.

The Debian ``linux-source-<series>.tar.xz`` is 140 MB; a kmod build needs a handful of its
directories. They are extracted in one ``tar`` pass per run (only the missing ones), into a
temporary directory renamed into place, under a file lock so concurrent runs do not collide.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock

from kmodkit.errors import KernelTreeError
from kmodkit.fsutil import temp_directory
from kmodkit.kernel.tree import KernelTree, read_version
from kmodkit.resources import cache_dir

Progress = Callable[[str], None]
_DONE = ".kmodkit-unpacked"


def tarball_prefix(tarball: Path) -> str:
    """Top directory inside a linux-source tarball (``linux-source-6.1``)."""
    name = tarball.name
    for suffix in (".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def source_cache_root(tarball: Path, version: str) -> Path:
    """Cache location for one tarball (keyed by name, size and mtime, not a 140 MB hash)."""
    stat = tarball.stat()
    key = hashlib.sha256(f"{tarball.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return cache_dir() / "sources" / f"{tarball_prefix(tarball)}-{version}-{key.hexdigest()[:12]}"


def _unpacked(root: Path, directory: str) -> bool:
    parts = directory.split("/")
    return any((root / "/".join(parts[:n]) / _DONE).is_file() for n in range(1, len(parts) + 1))


def _extract(tarball: Path, root: Path, dirs: list[str], version: str) -> None:
    if shutil.which("tar") is None:
        raise KernelTreeError("`tar` not found in PATH: cannot unpack kernel sources")
    prefix = tarball_prefix(tarball)
    root.mkdir(parents=True, exist_ok=True)
    # Beside the source root (same filesystem), so a stale one is found by the cache sweep.
    with temp_directory(root.parent, "unpack") as tmp:
        members = [f"{prefix}/Makefile", *(f"{prefix}/{d}/*" for d in dirs)]
        command = [
            "tar",
            "-xf",
            str(tarball),
            "-C",
            str(tmp),
            "--strip-components=1",
            "--wildcards",
        ]
        result = subprocess.run(
            [*command, *members], capture_output=True, text=True, errors="replace", check=False
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["tar failed"])[-1]
            raise KernelTreeError(
                f"cannot unpack {', '.join(dirs)} from the kernel sources: {last}",
                where=str(tarball),
            )
        found = read_version(tmp / "Makefile")
        if found != version:
            raise KernelTreeError(
                f"kernel source version {found} does not match the kernel headers' version "
                f"{version}; install the matching linux-source package",
                where=str(tarball),
            )
        for directory in dirs:
            target = root / directory
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            (tmp / directory / _DONE).write_text(version + "\n")
            (tmp / directory).rename(target)


def ensure_source_dirs(
    tree: KernelTree, dirs: Iterable[str], progress: Progress | None = None
) -> Path:
    """Make ``dirs`` (``net/netfilter``...) available under the returned source root."""
    wanted = sorted(set(dirs))
    root = tree.source_root
    if root is None:
        raise KernelTreeError("this kernel tree has no sources to compile modules from")
    if tree.source_tarball is None:
        for directory in wanted:
            if not (root / directory / "Makefile").is_file():
                raise KernelTreeError(
                    f"no {directory}/Makefile in the kernel sources", where=str(root)
                )
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        missing = [d for d in wanted if not _unpacked(root, d)]
        # A directory inside another one being unpacked comes with it.
        missing = [d for d in missing if not any(d.startswith(f"{o}/") for o in missing)]
        if missing:
            if progress:
                progress(f"unpacking {', '.join(missing)} from {tree.source_tarball.name}")
            _extract(tree.source_tarball, root, missing, tree.version)
    return root
