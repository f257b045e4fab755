"""Safe, streamed extraction of SDK archives (.tar.xz, .tar.zst) into a fresh directory.

Every member is checked before anything is written: no absolute names, no ``..``, no device
nodes or FIFOs, no symlink or hardlink that leads outside the root. Symlinks inside the
archive (a real SDK has many) are kept. Writes never follow a symlink: each parent directory
must resolve inside the root, and a final pass re-checks every symlink, so a chain of links
made to escape once all are in place is refused too.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import zstandard

from kmodkit.errors import FormatError
from kmodkit.formats.pathsafety import path_problem

ARCHIVE_SUFFIXES = (".tar.xz", ".tar.zst")


def member_path_problem(name: str) -> str | None:
    """Why an archive member name is unsafe to create under a root (formats.pathsafety's rules)."""
    if not name:
        return "is empty"
    return path_problem(name)


def link_target_problem(member: str, target: str) -> str | None:
    """Why a symlink at ``member`` pointing to ``target`` escapes the root, or None."""
    if not target or "\0" in target:
        return "empty symlink target"
    if target.startswith("/"):
        return f"absolute symlink target {target!r}"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(member), target))
    if joined == ".." or joined.startswith("../"):
        return f"symlink target {target!r} escapes the archive root"
    return None


@contextmanager
def _open_archive(path: Path, name: str) -> Iterator[tarfile.TarFile]:
    with open(path, "rb") as raw:
        if name.endswith(".tar.zst"):
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20)
            with reader, tarfile.open(fileobj=reader, mode="r|") as tar:
                yield tar
        elif name.endswith(".tar.xz"):
            with tarfile.open(fileobj=raw, mode="r|xz") as tar:
                yield tar
        else:
            raise FormatError(
                f"not an SDK archive (want {' or '.join(ARCHIVE_SUFFIXES)})", where=name
            )


def extract_archive(archive: Path, dest: Path, name: str | None = None) -> None:
    """Extract ``archive`` into the existing, empty directory ``dest``; raise FormatError.

    ``name`` (default: the file's) tells the compression by its suffix.
    """
    root = dest.resolve()
    where = name or str(archive)
    extractor = _Extractor(root, where)
    try:
        with _open_archive(archive, name or archive.name) as tar:
            for member in tar:
                extractor.member(tar, member)
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
        raise FormatError(f"cannot unpack archive: {exc}", where=where) from None
    _check_links(root, where)


def _refuse(member: tarfile.TarInfo, why: str, where: str) -> FormatError:
    return FormatError(f"unsafe member {member.name!r}: {why}; nothing was unpacked", where=where)


def _inside(root: Path, path: str) -> bool:
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


class _Extractor:
    """Creates members under ``root``; remembers directories known to hold no symlink."""

    def __init__(self, root: Path, where: str) -> None:
        self.root = root
        self.where = where
        self.plain = {str(root)}  # real directories below root reached without any symlink

    def _parent_inside(self, parent: str) -> bool:
        if parent in self.plain:
            return True
        os.makedirs(parent, exist_ok=True)
        if os.path.realpath(parent) == parent:  # no symlink on the way: inside by construction
            self.plain.add(parent)
            return True
        return _inside(self.root, parent)

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        where = self.where
        name = member.name.rstrip("/").removeprefix("./")
        if name in ("", "."):
            return
        problem = member_path_problem(name)
        if problem:
            raise _refuse(member, problem, where)
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise _refuse(member, "device node, FIFO or other special file", where)
        if member.issym():
            problem = link_target_problem(name, member.linkname)
            if problem:
                raise _refuse(member, problem, where)
        target = os.path.normpath(os.path.join(self.root, name))
        if not self._parent_inside(os.path.dirname(target)):
            raise _refuse(
                member, "its directory resolves outside the root through a symlink", where
            )
        if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)):
            if os.path.isdir(target) and not os.path.islink(target):
                raise _refuse(member, "replaces a directory", where)
            os.unlink(target)
        mode = member.mode & 0o777
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            os.chmod(target, mode | 0o700)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            source_name = member.linkname.removeprefix("./")
            problem = member_path_problem(source_name)
            source = os.path.join(self.root, source_name)
            if problem or not _inside(self.root, source) or not os.path.isfile(source):
                raise _refuse(
                    member, f"hardlink to {member.linkname!r} outside the unpacked files", where
                )
            os.link(source, target, follow_symlinks=False)
        else:
            _write_file(tar, member, target, mode)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, mode: int) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise FormatError(f"member {member.name!r} has no data")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        _copy(source, out)
        out.flush()
        os.fchmod(fd, mode | 0o600)
        os.utime(fd, (member.mtime, member.mtime))  # make compares SDK timestamps


def _copy(source: IO[bytes], out: IO[bytes]) -> None:
    while chunk := source.read(1 << 20):
        out.write(chunk)


def _check_links(root: Path, where: str) -> None:
    for directory, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = os.path.join(directory, entry)
            if os.path.islink(path) and not _inside(root, path):
                rel = os.path.relpath(path, root)
                raise FormatError(
                    f"unsafe member {rel!r}: symlink chain resolves outside the root; "
                    "nothing was unpacked",
                    where=where,
                )
        for name in list(dirnames):
            if os.path.islink(os.path.join(directory, name)):
                dirnames.remove(name)


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def top_directory(dest: Path, where: str) -> Path:
    """The single top-level directory an SDK archive unpacks to."""
    entries = [p for p in dest.iterdir()]
    dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
    if len(entries) != 1 or len(dirs) != 1:
        names = ", ".join(sorted(p.name for p in entries)[:5]) or "nothing"
        raise FormatError(f"expected one top-level SDK directory, found {names}", where=where)
    return dirs[0]
