"""An OpenWrt source tree (or SDK) on disk: which release and kernel it is for a target.

Facts come from the tree's own files: ``include/version.mk`` names the release (its default
VERSION_NUMBER, e.g. ``23.05.6``, ``24.10-SNAPSHOT`` or ``SNAPSHOT``) and
``target/linux/<board>/Makefile`` the KERNEL_PATCHVER; the full kernel version is left to GNU
make (include/kernel-version.mk), see :mod:`kmodkit.catalog.openwrt_import`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kmodkit.catalog.tables import Release, Target, lookup_release
from kmodkit.errors import UsageError

MODULES_DIR = "package/kernel/linux/modules"
_REQUIRED = ("include/kernel.mk", "include/kernel-version.mk", "include/package-defaults.mk")
_VERSION_RE = re.compile(
    r"^VERSION_NUMBER:=\$\(if \$\(VERSION_NUMBER\),\$\(VERSION_NUMBER\),(.+)\)"
)
_PATCHVER_RE = re.compile(r"^KERNEL_PATCHVER\s*:?=\s*(\d+\.\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class OpenWrtTree:
    """A checked OpenWrt tree root (buildroot checkout or extracted SDK)."""

    root: Path

    @property
    def modules_dir(self) -> Path:
        return self.root / MODULES_DIR

    def module_files(self) -> list[Path]:
        """``package/kernel/linux/modules/*.mk`` in the order the package Makefile includes them."""
        return sorted(self.modules_dir.glob("*.mk"))

    def version_number(self) -> str | None:
        """The release the tree says it is (``23.05.6``, ``24.10-SNAPSHOT``, ``SNAPSHOT``)."""
        path = self.root / "include/version.mk"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:
            match = _VERSION_RE.match(line.strip())
            if match:
                return match.group(1).strip()
        return None

    def release(self, wanted: str | None) -> Release:
        """``wanted`` (a release or point release) or else the one the tree declares."""
        if wanted:
            return lookup_release(wanted)
        number = self.version_number()
        if number is None:
            raise UsageError(
                f"{self.root / 'include/version.mk'}: no VERSION_NUMBER default; pass --release"
            )
        if number.upper() == "SNAPSHOT":
            return lookup_release("snapshot")
        if number.endswith("-SNAPSHOT"):  # a release branch, past its last point release
            return lookup_release(number.removesuffix("-SNAPSHOT")).branch_head()
        return lookup_release(number)

    def patchver(self, target: Target) -> str:
        """KERNEL_PATCHVER of ``target``'s board (``target/linux/<board>/Makefile``)."""
        path = self.root / "target/linux" / target.board / "Makefile"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the target Makefile ({exc.strerror})") from None
        match = _PATCHVER_RE.search(text)
        if match is None:
            raise UsageError(f"{path}: no KERNEL_PATCHVER")
        return match.group(1)


def open_tree(path: Path) -> OpenWrtTree:
    """The tree at ``path``, or a one-line UsageError saying why it is not an OpenWrt tree."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    missing = [name for name in (*_REQUIRED, MODULES_DIR) if not (root / name).exists()]
    if missing:
        raise UsageError(f"{root}: not an OpenWrt tree (no {missing[0]})")
    tree = OpenWrtTree(root.resolve())
    if not tree.module_files():
        raise UsageError(f"{tree.modules_dir}: not an OpenWrt tree (no *.mk files)")
    return tree
