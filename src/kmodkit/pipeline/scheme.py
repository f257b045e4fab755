"""Release version schemes: how a kmod's version and its `kernel` dependency are spelled.

OpenWrt ≤ 23.05 writes `5.15.137-1` and `kernel (=5.15.137-1-<hash>)`; 24.10 and later write
`6.6.93-r1` and `kernel (=6.6.93~<hash>-r1)` (facts §1). The virtual `kernel` package carries the
version the kmods depend on, so both are derived here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmodkit.errors import UsageError


@dataclass(frozen=True)
class VersionScheme:
    name: str  # "dash1" or "r1"

    def kmod_version(self, kernel_version: str) -> str:
        return f"{kernel_version}-1" if self.name == "dash1" else f"{kernel_version}-r1"

    def kernel_package_version(self, kernel_version: str, vermagic_hash: str) -> str:
        if self.name == "dash1":
            return f"{kernel_version}-1-{vermagic_hash}"
        return f"{kernel_version}~{vermagic_hash}-r1"

    def kernel_dependency(self, kernel_version: str, vermagic_hash: str) -> str:
        return f"kernel (={self.kernel_package_version(kernel_version, vermagic_hash)})"

    def kmods_dir(self, kernel_version: str, vermagic_hash: str) -> str:
        """The name of the kmods feed directory on OpenWrt's download server (facts §2)."""
        return f"{kernel_version}-1-{vermagic_hash}"


def version_scheme(name: str) -> VersionScheme:
    if name not in ("dash1", "r1"):
        raise UsageError(f"unknown version scheme {name!r} (expected dash1 or r1)")
    return VersionScheme(name)
