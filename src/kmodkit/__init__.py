"""kmodkit: turn a Linux kernel tree into a signed, verified feed of OpenWrt kmod packages."""

__version__ = "0.1.0"
