"""Which package members would harm the device they are installed on: one set of rules.

A package is unpacked into a root (``/`` on the device, an image directory on a build host), so
its members must stay inside that root. Readers report member paths as stored; this module
judges them, for every format and caller alike: ``find_hazards`` for verify (each hazard has a
stable kind that becomes a check id), ``require_safe`` for the writers (they refuse to create
any of it) and ``safe_parts`` for anything that extracts member paths onto a disk.

Rules (lexical, on the stored names; the package's own symlinks are followed):
- ``unsafe-path``: absolute, a ``..`` component, or a control character (a newline would
  split opkg's ``.list`` file and let ``opkg remove`` delete a path of the author's choosing);
- ``escaping-link``: a symlink that resolves above the root or to the root itself
  (``etc -> /``, ``lib -> ../../..``), loops, or a member written through one of the
  package's symlinks (``lib/file`` after ``lib -> ../../..``);
- ``hardlink``: a hard link to anything but an earlier regular file of the same package
  (one to such a file is only a warning: tools differ in how they recreate it);
- ``duplicate``: two members with the same path (the second silently replaces the first);
- ``special-file``: device nodes, FIFOs and types no package manager should create;
- ``setuid``: setuid or setgid bits on anything but a directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from kmodkit.errors import FormatError

HazardKind = Literal[
    "unsafe-path", "escaping-link", "hardlink", "duplicate", "special-file", "setuid"
]
HAZARD_KINDS: tuple[HazardKind, ...] = (
    "unsafe-path",
    "escaping-link",
    "hardlink",
    "duplicate",
    "special-file",
    "setuid",
)
SPECIAL_KINDS = frozenset({"chardev", "blockdev", "fifo", "other"})
MAX_LINK_HOPS = 40  # as the kernel's symlink limit
MAX_RESOLVE_STEPS = 4096  # components walked while resolving one link: bounds hostile chains
_SETID = 0o6000
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class Member(NamedTuple):
    """One member as stored: ``kind`` is file, dir, symlink, hardlink, chardev, blockdev,
    fifo or other; ``target`` is the link target of a symlink or hard link."""

    path: str
    kind: str
    mode: int = 0
    target: str = ""


@dataclass(frozen=True)
class Hazard:
    """One rule broken by one member; ``severe`` is False only for an internal hard link."""

    kind: HazardKind
    path: str
    message: str
    severe: bool = True


def path_problem(path: str) -> str | None:
    """Why a stored member path is unsafe, or None (``./``, ``a//b`` and ``a/./b`` are fine)."""
    if path.startswith("/"):
        return "is absolute"
    if _CONTROL.search(path):
        return "holds a control character"
    if ".." in path and ".." in path.split("/"):
        return "has a '..' component"
    return None


def safe_parts(path: str) -> tuple[str, ...] | None:
    """Components of a member path below the root (``()`` for the root), or None if unsafe."""
    if path_problem(path) is not None:
        return None
    return tuple([p for p in path.split("/") if p and p != "."])


def shown(path: str) -> str:
    """A path for a one-line message: control characters made visible, length capped."""
    text = repr(path)[1:-1]
    return text if len(text) <= 120 else text[:117] + "..."


_LINK = "\0"  # key of a trie node that is itself a symlink (never a path component)
Trie = dict[str, "Trie | str"]


def _add_link(trie: Trie, parts: tuple[str, ...], target: str) -> None:
    node = trie
    for comp in parts:
        child = node.setdefault(comp, {})
        assert isinstance(child, dict)
        node = child
    node[_LINK] = target


def _child(node: Trie | None, comp: str) -> Trie | None:
    child = node.get(comp) if node is not None else None
    return child if isinstance(child, dict) else None


def _resolve(trie: Trie, start: tuple[str, ...], target: str) -> tuple[str, ...] | str:
    """Where ``target`` (read in directory ``start``) leads, following the package's own
    symlinks (a trie, so each step costs O(1)); a string says why it leaves the root."""
    parts: list[str] = []
    nodes: list[Trie | None] = [trie]
    if not target.startswith("/"):
        for comp in start:
            parts.append(comp)
            nodes.append(_child(nodes[-1], comp))
    pending = [c for c in reversed(target.split("/")) if c not in ("", ".")]
    hops = steps = 0
    while pending:
        steps += 1
        if steps > MAX_RESOLVE_STEPS:
            return "is too deep to resolve"
        comp = pending.pop()
        if comp == "..":
            if not parts:
                return "climbs above the package root"
            parts.pop()
            nodes.pop()
            continue
        node = _child(nodes[-1], comp)
        link = node.get(_LINK) if node is not None else None
        if not isinstance(link, str):
            parts.append(comp)
            nodes.append(node)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            return "loops"
        if link.startswith("/"):
            del parts[:], nodes[1:]
        pending.extend(c for c in reversed(link.split("/")) if c not in ("", "."))
    return tuple(parts)


def _through_link(trie: Trie, parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The first proper prefix of ``parts`` that is a symlink of the package, if any."""
    node: Trie | None = trie
    for depth, comp in enumerate(parts[:-1], 1):
        node = _child(node, comp)
        if node is None:
            return None
        if _LINK in node:
            return parts[:depth]
    return None


def find_hazards(members: Iterable[Member]) -> list[Hazard]:
    """Every hazard of an archive's members, in member order (see the module docstring)."""
    hazards: list[Hazard] = []
    first: dict[tuple[str, ...], Member] = {}
    trie: Trie = {}
    placed: list[tuple[Member, tuple[str, ...]]] = []
    for m in members:
        where = shown(m.path)
        parts = safe_parts(m.path)
        if parts is None:
            hazards.append(Hazard("unsafe-path", m.path, f"{where} {path_problem(m.path)}"))
            continue
        if m.kind in SPECIAL_KINDS:
            what = {"chardev": "character device", "blockdev": "block device"}.get(m.kind, m.kind)
            hazards.append(Hazard("special-file", m.path, f"{where} is a {what}"))
        if m.kind != "dir" and m.mode & _SETID:
            bits = " and ".join(
                label for bit, label in ((0o4000, "setuid"), (0o2000, "setgid")) if m.mode & bit
            )
            hazards.append(Hazard("setuid", m.path, f"{where} is {bits} (mode {m.mode:o})"))
        if m.kind == "hardlink":  # judged before m itself counts as stored
            hazards.extend(_hardlink_hazards(m, first))
        if parts in first:
            earlier = shown(first[parts].path)
            hazards.append(Hazard("duplicate", m.path, f"{where} is stored twice (as {earlier})"))
        else:
            first[parts] = m
        if m.kind == "symlink":
            _add_link(trie, parts, m.target)
        placed.append((m, parts))
    if trie:  # without symlinks nothing can escape through one (the common case: no work)
        for m, parts in placed:
            hazards.extend(_link_hazards(m, parts, trie))
    return hazards


def _hardlink_hazards(m: Member, first: dict[tuple[str, ...], Member]) -> list[Hazard]:
    where, target = shown(m.path), shown(m.target)
    target_parts = safe_parts(m.target)
    if target_parts is None:
        problem = path_problem(m.target)
        return [Hazard("hardlink", m.path, f"{where} is a hard link to {target}, which {problem}")]
    source = first.get(target_parts)
    if source is None or source.kind != "file":
        return [
            Hazard(
                "hardlink",
                m.path,
                f"{where} is a hard link to {target}, not to an earlier file of the package",
            )
        ]
    return [Hazard("hardlink", m.path, f"{where} is a hard link to {target}", severe=False)]


def _link_hazards(m: Member, parts: tuple[str, ...], trie: Trie) -> list[Hazard]:
    hazards: list[Hazard] = []
    where = shown(m.path)
    via = _through_link(trie, parts)
    if via is not None:
        link = "/".join(via)
        hazards.append(
            Hazard("escaping-link", m.path, f"{where} is written through the symlink {shown(link)}")
        )
    if m.kind == "symlink":
        resolved = _resolve(trie, parts[:-1], m.target) if m.target else "has no target"
        if isinstance(resolved, str):
            why = resolved
        elif not resolved:
            why = "is the package root itself"
        else:
            return hazards
        hazards.append(
            Hazard("escaping-link", m.path, f"symlink {where} -> {shown(m.target)} {why}")
        )
    return hazards


def require_safe(members: Iterable[Member], where: str = "") -> None:
    """Writers' guard: FormatError naming the first hazard (an internal hard link included)."""
    hazards = find_hazards(members)
    if hazards:
        first = hazards[0]
        raise FormatError(f"refusing to write: {first.message} ({first.kind})", where=where or None)
