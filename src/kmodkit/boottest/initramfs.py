"""A deterministic initramfs: a newc cpio archive, gzip'd, written in Python (no host cpio).

The kernel unpacks it into its rootfs before running ``/init``. Entries are sorted by path,
parents are created before their children, inode numbers are assigned in that order and every
timestamp, owner and device number is fixed, so the same content always gives the same bytes.
Paths are checked before anything is written: formats.pathsafety's rules (no absolute path, no
``..``, no control character), no empty or ``.`` component (names are stored normalised), and no
entry below a symbolic link of the same archive (the guest's kernel would follow it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kmodkit.errors import FormatError
from kmodkit.formats.gzipio import gzip_compress
from kmodkit.formats.pathsafety import path_problem, shown

NodeKind = Literal["file", "dir", "symlink", "chardev"]

_TYPE_BITS: dict[str, int] = {
    "file": 0o100000,
    "dir": 0o040000,
    "symlink": 0o120000,
    "chardev": 0o020000,
}
TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Node:
    """One filesystem object of the initramfs; ``path`` is relative (``lib/modules/x.ko``)."""

    path: str
    kind: NodeKind
    mode: int
    data: bytes = b""
    target: str = ""
    rdev: tuple[int, int] = (0, 0)


def check_path(path: str, where: str = "initramfs") -> str:
    """The normalised relative path, or FormatError for anything that could escape the root."""
    problem = path_problem(path)
    if problem is not None:
        raise FormatError(f"unsafe path {shown(path)}: {problem}", where=where)
    if not path or "\\" in path:
        raise FormatError(f"unsafe path {path!r} (want a relative POSIX path)", where=where)
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise FormatError(f"unsafe path {path!r} (empty, '.' or '..' component)", where=where)
    return path


class Initramfs:
    """Collects nodes; adding the same path twice with different content is an error."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._nodes

    def paths(self) -> list[str]:
        return sorted(self._nodes)

    def add(self, node: Node, where: str = "initramfs") -> None:
        check_path(node.path, where)
        if node.kind == "symlink" and not node.target:
            raise FormatError(f"symlink {node.path!r} has no target", where=where)
        self._add_parents(node.path, where)
        old = self._nodes.get(node.path)
        if old is not None and old != node:
            if old.kind == node.kind == "dir":
                return
            raise FormatError(f"{node.path!r} is provided twice, differently", where=where)
        self._nodes[node.path] = node

    def _add_parents(self, path: str, where: str) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            existing = self._nodes.get(parent)
            if existing is None:
                self._nodes[parent] = Node(parent, "dir", 0o755)
            elif existing.kind != "dir":
                raise FormatError(
                    f"unsafe path {path!r}: {parent!r} is a {existing.kind}, not a directory",
                    where=where,
                )

    def file(self, path: str, data: bytes, mode: int = 0o644, where: str = "initramfs") -> None:
        self.add(Node(path, "file", mode, data), where)

    def dir(self, path: str, mode: int = 0o755) -> None:
        self.add(Node(path, "dir", mode))

    def symlink(self, path: str, target: str, where: str = "initramfs") -> None:
        self.add(Node(path, "symlink", 0o777, target=target), where)

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.add(Node(path, "chardev", mode, rdev=(major, minor)))

    def nodes(self) -> list[Node]:
        return [self._nodes[p] for p in sorted(self._nodes, key=lambda p: p.split("/"))]


def _header(ino: int, node: Node, name: bytes, size: int, mtime: int) -> bytes:
    mode = _TYPE_BITS[node.kind] | (node.mode & 0o7777)
    nlink = 2 if node.kind == "dir" else 1
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, node.rdev[0], node.rdev[1], len(name), 0)
    return b"070701" + b"".join(b"%08X" % value for value in fields)


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def write_newc(nodes: list[Node], mtime: int = 0) -> bytes:
    """The newc (``070701``) cpio archive of ``nodes`` in the given order, then the trailer."""
    out = bytearray()
    for ino, node in enumerate(nodes, start=1):
        name = node.path.encode("utf-8") + b"\0"
        body = node.target.encode("utf-8") if node.kind == "symlink" else node.data
        if node.kind in ("dir", "chardev"):
            body = b""
        out += _header(ino, node, name, len(body), mtime)
        out += name + _pad4(110 + len(name))
        out += body + _pad4(len(body))
    name = TRAILER.encode() + b"\0"
    out += _header(0, Node(TRAILER, "file", 0), name, 0, 0)[:110]
    out += name + _pad4(110 + len(name))
    return bytes(out)


def build_initramfs(image: Initramfs, mtime: int = 0) -> bytes:
    """gzip'd newc archive (gzip -n: no name, no time), the format every kernel accepts."""
    return gzip_compress(write_newc(image.nodes(), mtime))


def read_newc(data: bytes) -> list[Node]:
    """Decode a newc archive (for tests and --keep-logs inspection); stops at the trailer."""
    nodes: list[Node] = []
    offset = 0
    kinds: dict[int, NodeKind] = {0o100000: "file", 0o040000: "dir", 0o120000: "symlink"}
    kinds[0o020000] = "chardev"
    while True:
        head = data[offset : offset + 110]
        if len(head) < 110 or head[:6] != b"070701":
            raise FormatError(f"bad newc header at offset {offset}", where="initramfs")
        values = [int(head[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = values[1], values[6], values[11]
        name_end = offset + 110 + namesize
        name = data[offset + 110 : name_end - 1].decode("utf-8")
        offset = name_end + (-(110 + namesize) % 4)
        body = data[offset : offset + size]
        offset += size + (-size % 4)
        if name == TRAILER:
            return nodes
        kind = kinds.get(mode & 0o170000)
        if kind is None:
            raise FormatError(f"unsupported cpio mode {mode:o} for {name!r}", where="initramfs")
        nodes.append(
            Node(
                name,
                kind,
                mode & 0o7777,
                body if kind == "file" else b"",
                body.decode("utf-8") if kind == "symlink" else "",
                (values[9], values[10]),
            )
        )
