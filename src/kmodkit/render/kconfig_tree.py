"""A kernel's Kconfig files, unpacked once into the cache and loaded with kconfiglib.

Only ``Kconfig*`` files and ``scripts/*.sh`` (which the ``$(shell,...)`` macros of
scripts/Kconfig.include run to detect the compiler) are extracted from the Debian
``linux-source`` tarball. kconfiglib 14 predates the ``modules`` attribute of kernel 6.x
(``option modules`` before), so that line is rewritten on extraction.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kmodkit.errors import KernelTreeError
from kmodkit.fsutil import atomic_directory, atomic_write_text
from kmodkit.resources import cache_dir

_MODULES_RE = re.compile(r"^(\s+)modules\s*$", re.MULTILINE)
_MARKER = ".kmodkit-kconfig-ready"


def linux_source_tarball(series: str) -> Path:
    """/usr/src/linux-source-<series>.tar.xz, or an error saying how to install it."""
    path = Path(f"/usr/src/linux-source-{series}.tar.xz")
    if not path.is_file():
        raise KernelTreeError(
            f"{path} not found: install the kernel sources with "
            f"`apt-get install linux-source-{series}`"
        )
    return path


def prepare_kconfig_tree(tarball: Path, cache: Path | None = None) -> Path:
    """Extract the Kconfig files of ``tarball`` once; return the tree's top directory."""
    base = (cache or cache_dir()) / "kconfig-trees" / tarball.name.split(".tar")[0]
    if (base / _MARKER).is_file():
        return _top(base)
    with atomic_directory(base) as tmp:
        result = subprocess.run(
            [
                "tar",
                "-xJf",
                str(tarball),
                "-C",
                str(tmp),
                "--wildcards",
                "*/Kconfig*",
                "*/scripts/*.sh",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise KernelTreeError(f"tar failed: {result.stderr.strip()[:400]}", where=str(tarball))
        top = _top(tmp)
        for path in top.rglob("Kconfig*"):
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            if _MODULES_RE.search(text) and "scripts/kconfig/tests" not in str(path):
                atomic_write_text(path, _MODULES_RE.sub(r"\1option modules", text))
        (tmp / _MARKER).write_text("ok\n", encoding="utf-8")
    return _top(base)


def _top(base: Path) -> Path:
    tops = [p for p in base.iterdir() if p.is_dir() and (p / "Kconfig").is_file()]
    if len(tops) != 1:
        raise KernelTreeError("expected one kernel tree with a top-level Kconfig", where=str(base))
    return tops[0]


@contextlib.contextmanager
def _kconfig_environment(root: Path, arch: str) -> Iterator[None]:
    """kconfiglib reads os.environ and runs $(shell,...) in the working directory (cc-option
    creates .tmp_* there), so both are set for the duration of the parse and restored."""
    env = {
        "srctree": str(root),
        "ARCH": arch,
        "SRCARCH": arch,
        "CC": "gcc",
        "LD": "ld",
        "HOSTCC": "gcc",
        "HOSTCXX": "g++",
        "KERNELVERSION": "0",
        "RUSTC": "rustc",
        "BINDGEN": "bindgen",
        "PAHOLE": "pahole",
        "CC_VERSION_TEXT": "gcc",
    }
    saved = {k: os.environ.get(k) for k in env}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="kmodkit-kconfig-") as work:
        os.environ.update(env)
        os.chdir(work)
        try:
            yield
        finally:
            os.chdir(cwd)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def load_kconfig(root: Path, *, arch: str = "x86", dotconfig: Path | None = None) -> Any:
    """A kconfiglib.Kconfig for the tree at ``root``, with ``dotconfig`` loaded."""
    import kconfiglib

    with _kconfig_environment(root, arch):
        try:
            kconf = kconfiglib.Kconfig(str(root / "Kconfig"), warn=False)
            if dotconfig is not None:
                kconf.load_config(str(dotconfig), replace=True)
        except (kconfiglib.KconfigError, OSError) as exc:
            raise KernelTreeError(f"kconfiglib failed: {exc}", where=str(root)) from None
    return kconf
