"""A STAND-IN OpenWrt SDK for tests: no toolchain, no kernel, just the SDK's command surface.

No real SDK exists on the test machine, so ``make_standin_sdk`` builds a directory that looks
like one (rules.mk, include/, feeds.conf.default, scripts/feeds, Makefile) and whose
``scripts/feeds`` and ``Makefile`` (run by the real GNU make) RECORD every invocation (argv, cwd,
selected environment) as JSON lines in ``standin-calls.jsonl`` and imitate just enough of OpenWrt:

- ``feeds update``: links ``src-link`` feeds into feeds/ and writes ``feeds/<name>.index``
  (Source-Makefile / Package lines) from ``KernelPackage,<x>`` / ``BuildPackage,<x>`` calls;
- ``feeds install``: symlinks the package's source dir into ``package/feeds/<feed>/``, warns
  like OpenWrt for unknown names;
- ``make defconfig``: passes ``.config`` through, dropping packages that are not installed or
  listed in ``drop`` (``# CONFIG_PACKAGE_x is not set``), writes ``tmp/.config-package.in``;
- ``make package/<dir>/compile``: writes ``bin/targets/x86/64/packages/<pkg>_<ver>_x86_64.ipk``
  (or ``<pkg>-<ver>.apk``) for every package of that dir, or fails for dirs in ``fail_compile``.
  With ``prebuilt`` set it instead copies the REAL ``<pkg>_*.ipk`` / ``<pkg>-<digit>*.apk`` the
  test prepared in that directory (and fails like make when one is missing), so a pipeline run
  can index, sign and verify what the stand-in "compiled".

``install_standin_tooling`` adds this surface to an existing directory, e.g. a stand-in kernel
tree (tests/standin_kernel.py), giving one stand-in SDK usable by ``open_tree(sdk=...)`` too.

Behaviour knobs live in ``standin.json`` (see ``StandinOptions``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

CALLS = "standin-calls.jsonl"
FEEDS_CONF_DEFAULT = (
    "src-git base https://git.openwrt.org/openwrt/openwrt.git;v24.10.2\n"
    "src-git packages https://git.openwrt.org/feed/packages.git^0123456789abcdef\n"
)

_TOOL = r"""
import json, os, re, sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
OPTS = json.loads((TOP / "standin.json").read_text())
ENV_KEYS = ("LC_ALL", "LANG", "TZ", "MAKEFLAGS", "SOURCE_DATE_EPOCH", "KMODKIT_STANDIN_LEAK")


def record(tool, argv):
    entry = {"tool": tool, "argv": argv, "cwd": os.getcwd(),
             "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ}}
    with open(TOP / "standin-calls.jsonl", "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def feeds():
    conf = TOP / "feeds.conf"
    if not conf.exists():
        conf = TOP / "feeds.conf.default"
    lines = [l.split() for l in conf.read_text().splitlines() if l.strip()]
    args = sys.argv[2:]
    cmd = args[0]
    if cmd == "update":
        names = [l[1] for l in lines] if "-a" in args else args[1:]
        for kind, name, src in lines:
            if name not in names:
                continue
            if kind != "src-link":
                print(f"Updating feed '{name}' from '{src}' ...\nfailed.", flush=True)
                return 1
            (TOP / "feeds").mkdir(exist_ok=True)
            link = TOP / "feeds" / name
            if link.is_symlink():
                link.unlink()
            link.symlink_to(src)
            index = []
            for mk in sorted(Path(src).glob("*/Makefile")):
                index.append(f"Source-Makefile: feeds/{name}/{mk.parent.name}/Makefile")
                text = mk.read_text()
                for short in re.findall(r"KernelPackage,([^)\s]+)\)", text):
                    index.append(f"Package: kmod-{short}")
                for pkg in re.findall(r"BuildPackage,([^)\s]+)\)", text):
                    index.append(f"Package: {pkg}")
            (TOP / "feeds" / f"{name}.index").write_text("\n".join(index) + "\n")
        return 0
    if cmd == "install":
        feed = args[args.index("-p") + 1]
        pkgs = [a for i, a in enumerate(args[1:], 1)
                if not a.startswith("-") and args[i - 1] != "-p"]
        index = (TOP / "feeds" / f"{feed}.index").read_text().splitlines()
        source = {}
        for line in index:
            if line.startswith("Source-Makefile:"):
                src = line.split()[1].split("/")[2]
            else:
                source[line.split()[1]] = src
        for pkg in pkgs:
            if pkg not in source:
                print(f"WARNING: No feed for package '{pkg}' found", flush=True)
                continue
            dest = TOP / "package" / "feeds" / feed
            dest.mkdir(parents=True, exist_ok=True)
            if not (dest / source[pkg]).is_symlink():
                (dest / source[pkg]).symlink_to(f"../../../feeds/{feed}/{source[pkg]}")
            print(f"Installing package '{source[pkg]}' from {feed}", flush=True)
        return 0
    return 2


def installed():
    result = {}
    for link in sorted((TOP / "package" / "feeds").glob("*/*")):
        text = (link / "Makefile").read_text()
        for short in re.findall(r"KernelPackage,([^)\s]+)\)", text):
            result[f"kmod-{short}"] = link.name
    return result


def make():
    goal = sys.argv[2]
    record("make", ["make", goal, *([f"V={sys.argv[3]}"] if sys.argv[3] else [])])
    if goal == "defconfig":
        pkgs = installed()
        (TOP / "tmp").mkdir(exist_ok=True)
        (TOP / "tmp" / ".config-package.in").write_text(
            "".join(f"config PACKAGE_{p}\n\ttristate\n" for p in pkgs))
        out = []
        for line in (TOP / ".config").read_text().splitlines():
            m = re.fullmatch(r"CONFIG_PACKAGE_(\S+)=[ym]", line)
            if m and (m.group(1) not in pkgs or m.group(1) in OPTS["drop"]):
                line = f"# CONFIG_PACKAGE_{m.group(1)} is not set"
            out.append(line)
        (TOP / ".config").write_text("\n".join(out) + "\n")
        print("configuration written to .config", flush=True)
        return 0
    m = re.fullmatch(r"package/([^/]+)/compile", goal)
    if not m:
        print(f"make: *** No rule to make target '{goal}'.  Stop.", flush=True)
        return 2
    src = m.group(1)
    if src in OPTS["fail_compile"]:
        for i in range(1, 31):
            print(f"compile line {i}", flush=True)
        print(f"ERROR: package/feeds/kmodkit/{src} failed to build.", flush=True)
        return 1
    out = TOP / "bin" / "targets" / "x86" / "64" / "packages"
    out.mkdir(parents=True, exist_ok=True)
    for pkg, pkg_src in installed().items():
        if pkg_src != src or pkg in OPTS["no_artifact"]:
            continue
        if OPTS["prebuilt"]:
            found = prebuilt(pkg)
            if not found:
                print(f"ERROR: stand-in has no prebuilt package for {pkg}", flush=True)
                return 1
            for path in found:
                (out / path.name).write_bytes(path.read_bytes())
            continue
        name = (f"{pkg}_{OPTS['version']}_x86_64.ipk" if OPTS["format"] == "ipk"
                else f"{pkg}-{OPTS['version']}.apk")
        (out / name).write_bytes(f"stand-in {pkg}\n".encode())
    return 0


def prebuilt(pkg):
    apk = re.compile(re.escape(pkg) + r"-[0-9][^/]*\.apk")
    return sorted(p for p in Path(OPTS["prebuilt"]).iterdir()
                  if (p.name.startswith(pkg + "_") and p.name.endswith(".ipk"))
                  or apk.fullmatch(p.name))


if __name__ == "__main__":
    if sys.argv[1] == "feeds":
        record("feeds", ["./scripts/feeds", *sys.argv[2:]])
        sys.exit(feeds())
    sys.exit(make())
"""

_MAKEFILE = """\
# Stand-in OpenWrt SDK top-level Makefile: records and imitates, builds nothing real.
Makefile: ;
.DEFAULT:
\t@'{python}' '$(CURDIR)/scripts/standin_tool.py' make '$@' '$(V)'
"""

_FEEDS = """\
#!/bin/sh
# Stand-in for OpenWrt's scripts/feeds (a perl script in a real SDK).
exec '{python}' "$(dirname "$0")/standin_tool.py" feeds "$@"
"""


@dataclass
class StandinOptions:
    """Knobs of the stand-in: packages defconfig drops, source dirs whose compile fails, ..."""

    drop: list[str] = field(default_factory=list)
    fail_compile: list[str] = field(default_factory=list)
    no_artifact: list[str] = field(default_factory=list)
    version: str = "6.6.93-r1"
    format: str = "ipk"
    prebuilt: str = ""  # directory of real packages that compile copies instead of placeholders


def make_standin_sdk(root: Path, options: StandinOptions | None = None) -> Path:
    """Create the stand-in SDK under ``root`` and return its path."""
    sdk = root / "standin-sdk"
    sdk.mkdir(parents=True)
    return install_standin_tooling(sdk, options)


def install_standin_tooling(sdk: Path, options: StandinOptions | None = None) -> Path:
    """Give an existing directory the stand-in SDK's command surface; return ``sdk``."""
    (sdk / "include").mkdir(parents=True, exist_ok=True)
    (sdk / "scripts").mkdir(exist_ok=True)
    (sdk / "rules.mk").write_text("# stand-in rules.mk\n")
    (sdk / "include" / "kernel.mk").write_text("# stand-in\n")
    (sdk / "feeds.conf.default").write_text(FEEDS_CONF_DEFAULT)
    (sdk / "Makefile").write_text(_MAKEFILE.format(python=sys.executable))
    (sdk / "scripts" / "standin_tool.py").write_text(_TOOL)
    feeds = sdk / "scripts" / "feeds"
    feeds.write_text(_FEEDS.format(python=sys.executable))
    feeds.chmod(0o755)
    (sdk / "standin.json").write_text(json.dumps(asdict(options or StandinOptions())))
    return sdk


def make_standin_feed(root: Path, kmods: dict[str, str]) -> Path:
    """A minimal src-link feed: one source dir per entry, ``{dir: KernelPackage short name}``."""
    feed = root / "feed"
    for directory, short in kmods.items():
        (feed / directory).mkdir(parents=True)
        (feed / directory / "Makefile").write_text(
            f"include $(TOPDIR)/rules.mk\n\n$(eval $(call KernelPackage,{short}))\n"
        )
    return feed


def recorded_calls(sdk: Path) -> list[dict[str, object]]:
    """Every invocation the stand-in saw, in order."""
    path = sdk / CALLS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
