"""Kernel trees (distro, OpenWrt SDK, prepared build dir) and getting their modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kmodkit.errors import UsageError
from kmodkit.kernel.tree import KernelTree

if TYPE_CHECKING:
    from kmodkit.catalog import Target

__all__ = ["KernelTree", "open_tree"]


def open_tree(
    *,
    sdk: Path | None = None,
    kernel_dir: Path | None = None,
    provision: bool = True,
    progress: Callable[[str], None] | None = None,
    target: Target | None = None,
    series: str | None = None,
) -> KernelTree:
    """The SDK's tree, a prepared build dir, or (neither given) the distro's own kernel.

    With a ``target`` of another architecture than this machine, the distro kernel is a
    cross-prepared tree (kernel.cross: arm64, mipsel, big-endian mips). ``series`` asks for
    another distro kernel series than the default one (``6.12``: kernel.distro_series).
    """
    if sdk is not None and kernel_dir is not None:
        raise UsageError("give either --sdk or --kernel-dir, not both")
    if sdk is not None:
        from kmodkit.kernel.sdk import open_sdk_tree

        return open_sdk_tree(Path(sdk))
    if kernel_dir is not None:
        from kmodkit.kernel.path import open_path_tree

        return open_path_tree(Path(kernel_dir))
    from kmodkit.kernel.distro import open_distro_tree

    if series is not None:
        from kmodkit.kernel.distro_series import open_series_tree

        return open_series_tree(series, provision_missing=provision, progress=progress)
    if target is not None:
        import platform

        from kmodkit.kernel.cross import machine_for_target, open_cross_tree

        machine = machine_for_target(target.kernel_arch, target.pkg_arch)
        if machine != platform.machine():
            return open_cross_tree(
                machine, target.pkg_arch, provision_missing=provision, progress=progress
            )
    return open_distro_tree(provision_missing=provision, progress=progress)
