"""Where kmodkit's bundled data lives: the catalog (feeds/), templates/ and kconfig/.

They sit at the top of the source checkout (kmodkit is installed editable, see README);
``KMODKIT_HOME`` points elsewhere when the data is kept apart from the code.
"""

from __future__ import annotations

import os
from pathlib import Path

from kmodkit.errors import UsageError


def project_root() -> Path:
    env = os.environ.get("KMODKIT_HOME")
    root = Path(env) if env else Path(__file__).resolve().parents[2]
    if not (root / "feeds").is_dir():
        raise UsageError(
            f"kmodkit data not found under {root} (expected feeds/, templates/, kconfig/); "
            "install kmodkit editable from its checkout or set KMODKIT_HOME"
        )
    return root


def feeds_dir() -> Path:
    return project_root() / "feeds"


def templates_dir() -> Path:
    return project_root() / "templates"


def kconfig_dir() -> Path:
    return project_root() / "kconfig"


def cache_dir() -> Path:
    """The per-user cache (kernel sources, compiled modules, local build keys)."""
    env = os.environ.get("KMODKIT_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kmodkit"
