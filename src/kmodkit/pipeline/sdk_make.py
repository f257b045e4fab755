"""The ``sdk-make`` engine: let a real OpenWrt SDK compile and pack the generated feed.

Instead of kmodkit's own packers, this drives the SDK exactly as a person would (facts §11):

1. ``feeds.conf``: the SDK's feed lines (``feeds.conf`` if the user already has one, else
   ``feeds.conf.default``) with any previous ``kmodkit`` line replaced by
   ``src-link kmodkit <abs feed dir>``. Nothing else in the SDK is edited, backed up or restored;
   OpenWrt itself prefers ``feeds.conf`` over ``feeds.conf.default``.
2. ``./scripts/feeds update kmodkit`` (a ``src-link`` needs no network, so this works offline;
   the kmod closure lives entirely in our feed) or ``update -a`` when asked, then
   ``./scripts/feeds install -f -p kmodkit <pkgs>`` (``-f`` overrides core names such as
   kmod-nft-offload, ``-p`` prefers our feed for the dependencies too).
3. ``.config`` = the caller's seed, then ``make defconfig``; every package must come out ``=m``.
4. ``make package/<source dir>/compile V=s -j<jobs>`` per source package, one log per step.
5. The artifacts are collected from ``bin/targets/<board>/<subtarget>/packages/`` (kmods) or
   ``bin/packages/<arch>/kmodkit/`` (anything else).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodkit.errors import BuildError, KernelTreeError, UsageError
from kmodkit.fsutil import atomic_write_text, log_tail
from kmodkit.kernel.kconfig_file import parse_kconfig

FEED_NAME = "kmodkit"
LOG_TAIL_LINES = 20

# Only these survive from the caller's environment: enough to find make/perl/git and a proxy.
_PASSED_THROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
_SDK_MARKERS = ("rules.mk", "Makefile", "scripts/feeds", "include")
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+._-]*")


@dataclass(frozen=True)
class SdkMakeResult:
    """What the SDK produced: requested packages' files, the commands run, their logs."""

    artifacts: list[Path]
    commands: list[list[str]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)


def check_sdk_dir(sdk_dir: Path) -> None:
    """Fail early, in one line, when ``sdk_dir`` is not an extracted OpenWrt SDK."""
    missing = [m for m in _SDK_MARKERS if not (sdk_dir / m).exists()]
    if not sdk_dir.is_dir() or missing:
        what = "not a directory" if not sdk_dir.is_dir() else f"missing {', '.join(missing)}"
        raise KernelTreeError(
            f"not an OpenWrt SDK ({what}; expected {', '.join(_SDK_MARKERS)})", where=str(sdk_dir)
        )


def sdk_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean, explicit environment: no inherited MAKEFLAGS/CFLAGS/locale surprises."""
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update({"LC_ALL": "C", "LANG": "C", "TZ": "UTC"})
    env.update(extra or {})
    return env


def render_feeds_conf(base_text: str, feed_dir: Path) -> str:
    """The SDK's feed lines with our ``src-link`` appended (a previous one replaced)."""
    kept = []
    for line in base_text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0].startswith("src-") and words[1] == FEED_NAME:
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    kept.append(f"src-link {FEED_NAME} {feed_dir}")
    return "\n".join(kept) + "\n"


def source_dirs_from_index(index_text: str) -> dict[str, str]:
    """Map binary package -> source directory name from a ``feeds/<name>.index`` file.

    ``make package/<x>/compile`` takes the *source directory* name (OpenWrt's subdir.mk alias
    is the last path component), which differs from the package name (nft-offload vs
    kmod-nft-offload).
    """
    mapping: dict[str, str] = {}
    source = ""
    for line in index_text.splitlines():
        if line.startswith("Source-Makefile:"):
            source = Path(line.split(":", 1)[1].strip()).parent.name
        elif line.startswith("Package:") and source:
            mapping[line.split(":", 1)[1].strip()] = source
    return mapping


def find_artifact(search_dirs: Sequence[Path], package: str) -> Path | None:
    """The newest ``<pkg>_<ver>_<arch>.ipk`` or ``<pkg>-<ver>.apk`` in the first dir holding one."""
    apk = re.compile(re.escape(package) + r"-\d[^/]*\.apk")
    for directory in search_dirs:
        if not directory.is_dir():
            continue
        found = [
            p
            for p in directory.iterdir()
            if p.is_file()
            and (
                (p.name.startswith(f"{package}_") and p.name.endswith(".ipk"))
                or apk.fullmatch(p.name)
            )
        ]
        if found:
            return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name))
    return None


@dataclass
class _Runner:
    """Runs each step with its own log and keeps the record the result reports."""

    sdk_dir: Path
    log_dir: Path
    env: dict[str, str]
    progress: Callable[[str], None] | None
    commands: list[list[str]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def run(self, step: str, argv: list[str], hint: str = "") -> Path:
        log = self.log_dir / f"{len(self.logs) + 1:02d}-{step}.log"
        self.commands.append(argv)
        self.logs.append(log)
        if self.progress:
            self.progress(f"{' '.join(argv)}  (log: {log})")
        try:
            with log.open("wb") as out:
                code = subprocess.run(
                    argv,
                    cwd=self.sdk_dir,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
        except OSError as exc:
            raise BuildError(
                f"{step}: cannot run {argv[0]}: {exc}", where=str(self.sdk_dir)
            ) from exc
        if code != 0:
            tail = log_tail(log, LOG_TAIL_LINES)
            raise BuildError(
                f"{step} failed (exit {code}): {' '.join(argv)}{hint}; last lines: {tail}",
                where=str(self.sdk_dir),
                log=str(log),
            )
        return log


def _check_inputs(feed_dir: Path, packages: Sequence[str], jobs: int) -> None:
    if not packages:
        raise UsageError("no package to build with the SDK")
    for name in packages:
        if not _PACKAGE_NAME.fullmatch(name):
            raise UsageError(f"not an OpenWrt package name: {name!r}")
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    if not feed_dir.is_dir():
        raise BuildError("generated feed directory does not exist", where=str(feed_dir))
    if any(c.isspace() for c in str(feed_dir)):
        raise BuildError("scripts/feeds cannot handle white space in a path", where=str(feed_dir))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BuildError(f"cannot read: {exc.strerror}", where=str(path)) from exc


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise BuildError(f"cannot write: {exc.strerror}", where=str(path)) from exc


def _check_defconfig(sdk_dir: Path, packages: Sequence[str], log: Path) -> None:
    """Every requested package must survive ``make defconfig`` as ``=m``, else say why."""
    values = parse_kconfig(_read_text(sdk_dir / ".config"))
    known_text = ""
    known_file = sdk_dir / "tmp" / ".config-package.in"
    if known_file.is_file():
        known_text = _read_text(known_file)
    for name in packages:
        value = values.get(f"CONFIG_PACKAGE_{name}", "unset")
        if value == "m":
            continue
        if known_text and f"config PACKAGE_{name}\n" not in known_text:
            cause = (
                f"the SDK does not know {name}: feeds install did not install it "
                f"(see package/feeds/{FEED_NAME}/ and the feeds logs)"
            )
        else:
            cause = (
                "likely an unmet dependency (@IPV6, a target symbol, a missing kmod) or a seed "
                "without CONFIG_ALL=n/CONFIG_ALL_KMODS=n; run `make menuconfig` in the SDK to see"
            )
        raise BuildError(
            f"make defconfig dropped {name} (CONFIG_PACKAGE_{name} is {value}, wanted m): {cause}",
            where=str(sdk_dir / ".config"),
            log=str(log),
        )


def run_sdk_make(
    sdk_dir: Path,
    *,
    feed_dir: Path,
    packages: Sequence[str],
    seed_config: str,
    board: str,
    subtarget: str,
    jobs: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    update_all_feeds: bool = False,
) -> SdkMakeResult:
    """Build ``packages`` from the generated feed with the SDK's own make; return their files.

    ``update_all_feeds`` runs ``./scripts/feeds update -a`` (needs the network for the default
    feeds); the default updates only the kmodkit ``src-link`` feed, which works offline.
    """
    sdk_dir = sdk_dir.resolve()
    feed_dir = feed_dir.resolve()
    check_sdk_dir(sdk_dir)
    _check_inputs(feed_dir, packages, jobs)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(
            f"cannot create the log directory: {exc.strerror}", where=str(log_dir)
        ) from exc
    runner = _Runner(sdk_dir, log_dir.resolve(), sdk_environment(env), progress)

    feeds_conf = sdk_dir / "feeds.conf"
    base = feeds_conf if feeds_conf.is_file() else sdk_dir / "feeds.conf.default"
    base_text = _read_text(base) if base.is_file() else ""
    _write_text(feeds_conf, render_feeds_conf(base_text, feed_dir))

    if update_all_feeds:
        offline = "\n(are the default feeds reachable? without network update only kmodkit)"
        runner.run("feeds-update", ["./scripts/feeds", "update", "-a"], offline)
    else:
        runner.run("feeds-update", ["./scripts/feeds", "update", FEED_NAME])
    runner.run("feeds-install", ["./scripts/feeds", "install", "-f", "-p", FEED_NAME, *packages])

    _write_text(sdk_dir / ".config", seed_config)
    defconfig_log = runner.run("defconfig", ["make", "defconfig"])
    _check_defconfig(sdk_dir, packages, defconfig_log)

    index = sdk_dir / "feeds" / f"{FEED_NAME}.index"
    sources = source_dirs_from_index(_read_text(index)) if index.is_file() else {}
    for source in dict.fromkeys(sources.get(name, name) for name in packages):
        runner.run(f"compile-{source}", ["make", f"package/{source}/compile", "V=s", f"-j{jobs}"])

    kmod_dir = sdk_dir / "bin" / "targets" / board / subtarget / "packages"
    search_dirs = [kmod_dir, *sorted((sdk_dir / "bin" / "packages").glob(f"*/{FEED_NAME}"))]
    artifacts = []
    for name in packages:
        found = find_artifact(search_dirs, name)
        if found is None:
            searched = ", ".join(str(d) for d in search_dirs)
            raise BuildError(
                f"the SDK built no package file for {name} (searched {searched})",
                where=str(sdk_dir),
                log=str(runner.logs[-1]),
            )
        artifacts.append(found)
    return SdkMakeResult(artifacts=artifacts, commands=runner.commands, logs=runner.logs)
