"""``invoke verify``: prove that kmod packages and feeds are correct and installable.

Library entry point for the build pipeline and the CLI: ``verify_paths`` (pure, no printing).
"""

from kmodkit.verify.model import CHECKS, Result, VerifyOptions, VerifyReport
from kmodkit.verify.rebuild import Difference, compare_trees
from kmodkit.verify.runner import verify_paths

__all__ = [
    "CHECKS",
    "Difference",
    "Result",
    "VerifyOptions",
    "VerifyReport",
    "compare_trees",
    "verify_paths",
]
