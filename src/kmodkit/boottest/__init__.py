"""Boot test: prove in a real kernel, under QEMU, that a feed's modules load and offload flows.

``run_boottest`` is the library entry point (``invoke boottest`` is a thin layer over it).
"""

from kmodkit.boottest.runner import BootOptions, BootReport, TargetRun, run_boottest

__all__ = ["BootOptions", "BootReport", "TargetRun", "run_boottest"]
