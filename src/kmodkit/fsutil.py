"""Filesystem helpers that never leave half-written output behind, even when killed.

Every temporary file or directory kmodkit makes is named ``.<label>.kmodkit-<pid>-<random>.tmp``
(TEMP_PATTERN): the owner's process id is in the name, so a later run removes the debris of a
process that no longer exists (``sweep_stale``) and never touches a live run's temporaries, even
when several runs share one cache. Tools that walk output trees (verify) skip these names with
``is_temp_name``. Output honours the umask: directories 0777 and files ``mode`` minus the umask
(0755 and 0644 under umask 022), where ``mkdtemp``/``mkstemp`` alone would give 0700/0600.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

TEMP_MARK = ".kmodkit-"
TEMP_SUFFIX = ".tmp"
# .<label>.kmodkit-<pid>-<random>.tmp ; the label may itself contain dots.
TEMP_PATTERN = re.compile(r"^\..*\.kmodkit-(?P<pid>[0-9]+)-[A-Za-z0-9_]+\.tmp$")


def temp_prefix(label: str) -> str:
    """Prefix for ``mkdtemp``/``mkstemp`` (with ``suffix=TEMP_SUFFIX``) owned by this process."""
    return f".{label}{TEMP_MARK}{os.getpid()}-"


def is_temp_name(name: str) -> bool:
    """True for a kmodkit temporary (whatever process made it): never an artifact."""
    return TEMP_PATTERN.match(name) is not None


def temp_owner(name: str) -> int | None:
    match = TEMP_PATTERN.match(name)
    return int(match.group("pid")) if match else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def sweep_stale(directories: Iterable[Path]) -> list[Path]:
    """Remove the kmodkit temporaries directly inside ``directories`` whose owner is dead."""
    removed: list[Path] = []
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            pid = temp_owner(name)
            if pid is None or pid == os.getpid() or pid_alive(pid):
                continue
            path = Path(directory) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed.append(path)
    return removed


def sweep_stale_under(root: Path, depth: int) -> list[Path]:
    """``sweep_stale`` on ``root`` and its real subdirectories down to ``depth`` levels."""
    level = [root]
    removed: list[Path] = []
    for n in range(depth + 1):
        removed += sweep_stale(level)
        if n == depth:
            break
        below: list[Path] = []
        for directory in level:
            with contextlib.suppress(OSError), os.scandir(directory) as entries:
                below += [
                    Path(e.path)
                    for e in entries
                    if e.is_dir(follow_symlinks=False) and not is_temp_name(e.name)
                ]
        level = below
    return removed


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(parent: Path, label: str) -> Path:
    """A fresh pid-named temporary directory in ``parent``, 0777 minus the umask."""
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(label), suffix=TEMP_SUFFIX, dir=parent))
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


@contextlib.contextmanager
def temp_directory(parent: Path, label: str) -> Iterator[Path]:
    """A pid-named scratch directory in ``parent``, removed on exit whatever happens."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(parent, label)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename.

    The file gets ``mode`` minus the umask (0644 under umask 022; a 0600 secret stays 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


MANIFEST = ".kmodkit-sha256"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path, names: Iterable[str]) -> None:
    """Record the sha256 of ``names`` (files in ``directory``) for ``manifest_intact``."""
    lines = "".join(f"{file_sha256(directory / n)}  {n}\n" for n in sorted(set(names)))
    atomic_write_text(directory / MANIFEST, lines)


def manifest_intact(directory: Path, required: Iterable[str] = ()) -> bool:
    """Every recorded file is present with its recorded hash and ``required`` are recorded.

    A cache entry that fails this (a file deleted, truncated or altered, or an entry from
    before hashes were recorded) is rebuilt instead of trusted.
    """
    try:
        text = (directory / MANIFEST).read_text()
        recorded: dict[str, str] = {}
        for line in text.splitlines():
            digest, _, name = line.partition("  ")
            recorded[name] = digest
        if not recorded or not set(required) <= set(recorded):
            return False
        return all(file_sha256(directory / n) == h for n, h in recorded.items())
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def log_tail(log: Path, lines: int) -> str:
    """The last ``lines`` non-empty lines of a log, folded onto one line for a one-line error."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on ``directory`` itself: no lock file is left beside the output."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_directory(tmp: Path, path: Path) -> None:
    """Put ``tmp`` in place of ``path``; readers see the old tree or the new one, never none."""
    if path.exists() and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old tree
        return
    old = make_temp_dir(path.parent, path.name)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, old / path.name)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary sibling directory that replaces ``path`` only on success.

    On error the temporary directory is removed, and so are the parent directories this call
    created: ``path`` and everything around it stay as they were. Concurrent runs writing the
    same ``path`` each swap their own complete tree in under a lock on the parent directory
    (the last one wins); the debris of killed runs beside ``path`` is swept first.
    """
    created = [p for p in reversed(path.parents) if not p.exists()]
    for attempt in range(5):  # a failing concurrent run may remove a parent it just made
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp = make_temp_dir(path.parent, path.name)
            break
        except FileNotFoundError:
            if attempt == 4:
                raise
    sweep_stale([path.parent])
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in reversed(created):
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise
    with directory_lock(path.parent):
        _replace_directory(tmp, path)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``except BaseException``/``finally`` cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (main thread only; elsewhere a no-op)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
