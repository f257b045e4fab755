"""One exception hierarchy for the whole toolkit.

Library code raises these with a one-line cause that names the file, field, URL or byte offset
at fault; the CLI edge (``kmodkit.cli``) renders them once, without a traceback.
"""

from __future__ import annotations


class KmodkitError(Exception):
    """Base of every error kmodkit reports to a user."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, log: str | None = None) -> None:
        self.message = message
        self.where = where
        self.log = log
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.log:
            text += f" (log: {self.log})"
        return text


class SpecError(KmodkitError):
    """A catalog spec, release or target table is malformed."""


class ResolveError(KmodkitError):
    """A dependency cannot be resolved (unknown package, cycle, unsatisfiable condition)."""


class RenderError(KmodkitError):
    """A template could not be rendered."""


class FormatError(KmodkitError):
    """A package, index, key or signature file is malformed (truncated, bad magic, bad offset)."""


class SignatureError(KmodkitError):
    """A signature does not verify or a key cannot be used."""


class KernelTreeError(KmodkitError):
    """A kernel tree is missing, incomplete or inconsistent."""


class BuildError(KmodkitError):
    """Compiling or packing failed."""


class FetchError(KmodkitError):
    """A download or mirror lookup failed."""


class UsageError(KmodkitError):
    """The user asked for something that does not exist (unknown target, release, package...)."""
