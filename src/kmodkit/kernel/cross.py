"""Cross-architecture distro trees: Debian's kernel sources prepared for arm64, mipsel and mips.

On an amd64 host Debian installs only amd64 kernel configs. The real arm64 (and mipsel
4kc-malta) kernel's ``.config`` and ``Module.symvers`` come from Debian's
``linux-headers-<abi>-<flavour>`` .deb, fetched through the signed archive
(kernel.debian_archive); its host binaries are foreign and unused. The full
``linux-source-<series>`` of the same Debian version is unpacked and prepared with
``make ARCH=.. CROSS_COMPILE=.. KERNELRELEASE=<abi>-<flavour> olddefconfig modules_prepare``,
so out-of-tree modules match the real kernel (vermagic, CRCs of vmlinux exports).
Big-endian mips (ath79) has no Debian kernel: the kernel's own ``ath79_defconfig`` plus the
chain's kernel fragment; it has no vmlinux Module.symvers, so exports are not checked there.

Each tree is prepared once per architecture and source version, in a temporary directory
renamed into place under a file lock; later runs need no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from kmodkit.errors import KernelTreeError
from kmodkit.fsutil import atomic_directory, log_tail
from kmodkit.kernel.debian_archive import (
    AptSource,
    DebianArchive,
    Stanza,
    deb_files,
    debian_sources,
)
from kmodkit.kernel.tree import (
    KernelTree,
    parse_config,
    read_release,
    read_version,
    tree_identity,
)
from kmodkit.kernel.vermagic import kernel_vermagic, openwrt_vermagic_hash
from kmodkit.resources import cache_dir

Progress = Callable[[str], None]
SERIES = "6.1"
DONE = "kmodkit-tree.json"
DEBIAN_CONFIG = ".config.debian"


@dataclass(frozen=True)
class CrossArch:
    """How to get a kernel tree for one foreign machine."""

    machine: str  # OpenWrt package-arch prefix: aarch64, mipsel, mips
    karch: str  # Kbuild ARCH
    cross_compile: str
    compiler_package: str  # the Debian package holding <cross_compile>gcc
    debian_arch: str | None = None  # Debian kernel from the archive...
    flavour: str | None = None
    defconfig: str | None = None  # ...or the kernel's own defconfig + the chain fragment
    fragment_target: str | None = None


CROSS_ARCHES = {
    "aarch64": CrossArch(
        "aarch64", "arm64", "aarch64-linux-gnu-", "gcc-aarch64-linux-gnu", "arm64", "arm64"
    ),
    "mipsel": CrossArch(
        "mipsel", "mips", "mipsel-linux-gnu-", "gcc-mipsel-linux-gnu", "mipsel", "4kc-malta"
    ),
    "mips": CrossArch(
        "mips",
        "mips",
        "mips-linux-gnu-",
        "gcc-mips-linux-gnu",
        defconfig="ath79_defconfig",
        fragment_target="ath79/generic",
    ),
}
# What the ath79 tree needs beyond the chain's own fragment (OpenWrt's generic kernel config
# has it): modules, IPv6, and the nf_tables families nft_nat/nft_reject_* depend on.
ATH79_BASE = (
    "CONFIG_MODULES=y\nCONFIG_MODULE_UNLOAD=y\nCONFIG_IPV6=y\nCONFIG_NETFILTER=y\n"
    "CONFIG_NF_TABLES_INET=y\nCONFIG_NF_TABLES_IPV4=y\nCONFIG_NF_TABLES_IPV6=y\n"
)


def machine_for_target(kernel_arch: str, pkg_arch: str) -> str:
    """uname-style machine of an OpenWrt target: ``aarch64``, ``mipsel``, ``mips``, ``x86_64``."""
    if kernel_arch == "arm64":
        return "aarch64"
    if kernel_arch == "mips":
        return "mipsel" if pkg_arch.startswith("mipsel") else "mips"
    if kernel_arch == "x86":
        return "x86_64" if pkg_arch == "x86_64" else "i386"
    return kernel_arch


def _installed_source() -> tuple[Path, str | None]:
    from kmodkit.kernel.distro import SRC, _dpkg_field

    return SRC / f"linux-source-{SERIES}.tar.xz", _dpkg_field(f"linux-source-{SERIES}", "Version")


def _ensure_tools(spec: CrossArch, provision_missing: bool, progress: Progress | None) -> None:
    from kmodkit.kernel.distro import install_command, provision

    wanted = []
    if shutil.which(spec.cross_compile + "gcc") is None:
        wanted.append(spec.compiler_package)
    tarball, _ = _installed_source()
    if not tarball.is_file():
        wanted.append(f"linux-source-{SERIES}")
    if spec.debian_arch and shutil.which("gpgv") is None:
        wanted.append("gpgv")
    if not wanted:
        return
    if not provision_missing:
        raise KernelTreeError(f"missing for {spec.machine}; run as root: {install_command(wanted)}")
    provision(wanted, progress)


def open_cross_tree(
    machine: str,
    pkg_arch: str,
    *,
    provision_missing: bool = True,
    progress: Progress | None = None,
) -> KernelTree:
    """The prepared tree for ``machine`` (aarch64, mipsel, mips), preparing it on first use."""
    spec = CROSS_ARCHES.get(machine)
    if spec is None:
        raise KernelTreeError(
            f"no distro kernel for {machine!r} (offline trees: x86_64, "
            f"{', '.join(CROSS_ARCHES)}); use --sdk or --kernel-dir"
        )
    _ensure_tools(spec, provision_missing, progress)
    tarball, source_version = _installed_source()
    name = f"{machine}-{spec.flavour or spec.defconfig}-{source_version or 'local'}"
    if spec.defconfig:  # the tree depends on the fragment: a new fragment, a new tree
        name += "-" + hashlib.sha256(ATH79_BASE.encode()).hexdigest()[:8]
    root = cache_dir() / "trees" / name
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / DONE).is_file():
            if progress:
                progress(f"preparing the {machine} kernel tree (once per cache)")
            with atomic_directory(root) as work:
                if spec.debian_arch:
                    record = _prepare_debian(spec, work, tarball, source_version, progress)
                else:
                    record = _prepare_defconfig(spec, work, tarball, progress)
                (work / DONE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return cross_tree_from(root, spec, pkg_arch)


def cross_tree_from(root: Path, spec: CrossArch, pkg_arch: str) -> KernelTree:
    """A KernelTree over a prepared directory (no network, no make)."""
    record = json.loads((root / DONE).read_text())
    debian = root / DEBIAN_CONFIG
    config_path = debian if debian.is_file() else root / ".config"
    config_bytes = config_path.read_bytes()
    config = parse_config(config_bytes.decode("utf-8", "replace"))
    release = read_release(root)
    symvers = root / "Module.symvers"
    return KernelTree(
        provider="distro",
        release=release,
        version=read_version(root / "Makefile"),
        arch=spec.karch,
        pkg_arch=pkg_arch,
        cross_compile=spec.cross_compile,
        build_dir=root,
        config=config,
        symvers_path=symvers,
        builtin_modules=frozenset(),
        modules_dir=None,
        source_root=root,
        vermagic_hash=openwrt_vermagic_hash(config_bytes),
        vermagic=kernel_vermagic(release, config),
        identity=tree_identity(release, config_bytes, symvers),
        cc="gcc",
        config_path=config_path,
        make_vars=tuple(record.get("make_vars", ())),
    )


def _pick_headers(
    archive: DebianArchive, spec: CrossArch, source_version: str | None
) -> tuple[tuple[AptSource, Stanza], tuple[AptSource, Stanza] | None]:
    """The headers package matching the installed sources, else the newest (and its sources)."""
    pattern = re.compile(rf"^linux-headers-(\d+\.\d+\.\d+-\d+)-{re.escape(spec.flavour or '')}$")
    headers: list[tuple[AptSource, Stanza]] = []
    sources: dict[str, tuple[AptSource, Stanza]] = {}
    assert spec.debian_arch is not None
    for source, stanza in archive.packages(spec.debian_arch):
        package = stanza.get("Package", "")
        if pattern.match(package):
            headers.append((source, stanza))
        elif package == f"linux-source-{SERIES}":
            sources[stanza.get("Version", "")] = (source, stanza)
    if not headers:
        raise KernelTreeError(
            f"no linux-headers-*-{spec.flavour} in the configured Debian archive's "
            f"binary-{spec.debian_arch}"
        )
    exact = [h for h in headers if h[1].get("Version") == source_version]
    if exact:
        return exact[0], None

    def abi(item: tuple[AptSource, Stanza]) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", item[1]["Package"]))

    chosen = max(headers, key=abi)
    version = chosen[1].get("Version", "")
    if version not in sources:
        raise KernelTreeError(
            f"{chosen[1]['Package']} {version} has no linux-source-{SERIES} of the same version "
            "in the archive"
        )
    return chosen, sources[version]


def _unpack(tarball: Path, dest: Path) -> None:
    result = subprocess.run(
        ["tar", "-xf", str(tarball), "-C", str(dest), "--strip-components=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["tar failed"])[-1]
        raise KernelTreeError(f"cannot unpack kernel sources: {last}", where=str(tarball))


def _make(spec: CrossArch, tree: Path, args: list[str], log: Path) -> None:
    command = [
        "make",
        "-C",
        str(tree),
        f"ARCH={spec.karch}",
        f"CROSS_COMPILE={spec.cross_compile}",
        f"-j{os.cpu_count() or 1}",
        *args,
    ]
    with log.open("a") as fh:
        fh.write("$ " + " ".join(command) + "\n")
        fh.flush()
        env = {**os.environ, "LC_ALL": "C"}
        result = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise KernelTreeError(
            f"preparing the {spec.machine} kernel tree failed: " + log_tail(log, 10),
            where=str(log),
        )


def _prepare_debian(
    spec: CrossArch,
    work: Path,
    tarball: Path,
    source_version: str | None,
    progress: Progress | None,
) -> dict[str, object]:
    cache = cache_dir()
    archive = DebianArchive(debian_sources(), cache / "debian")
    if progress:
        progress(f"reading the signed Debian archive index (binary-{spec.debian_arch})")
    (hsource, headers), source_deb = _pick_headers(archive, spec, source_version)
    package = headers["Package"]
    abi_release = package.removeprefix("linux-headers-")
    if progress:
        progress(f"fetching {package} {headers['Version']}")
    deb = archive.download(hsource, headers)
    inside = f"usr/src/{package}"
    deb_files(
        deb,
        {
            f"{inside}/.config": work / DEBIAN_CONFIG,
            f"{inside}/Module.symvers": work / "Module.symvers.debian",
        },
    )
    if source_deb is not None:
        if progress:
            progress(f"fetching linux-source-{SERIES} {headers['Version']}")
        sdeb = archive.download(source_deb[0], source_deb[1])
        tarball = cache / "debian" / "sources" / headers["Version"] / tarball.name
        if not tarball.is_file():
            deb_files(sdeb, {f"usr/src/{tarball.name}": tarball})
    if progress:
        progress(f"unpacking {tarball.name} and running olddefconfig modules_prepare")
    _unpack(tarball, work)
    shutil.copyfile(work / DEBIAN_CONFIG, work / ".config")
    shutil.copyfile(work / "Module.symvers.debian", work / "Module.symvers")
    log = work / "kmodkit-prepare.log"
    _make(spec, work, [f"KERNELRELEASE={abi_release}", "olddefconfig", "modules_prepare"], log)
    if read_release(work) != abi_release:
        raise KernelTreeError(f"prepared tree reports {read_release(work)}, not {abi_release}")
    _stable_mtime(work / DEBIAN_CONFIG, work / "Makefile")
    return {
        "machine": spec.machine,
        "headers": f"{package} {headers['Version']} sha256 {headers['SHA256']}",
        "config_differences": _config_differences(work),
        "make_vars": [],
    }


def _prepare_defconfig(
    spec: CrossArch, work: Path, tarball: Path, progress: Progress | None
) -> dict[str, object]:
    assert spec.defconfig is not None and spec.fragment_target is not None
    if progress:
        progress(f"unpacking {tarball.name}; {spec.defconfig} + the chain's kernel fragment")
    _unpack(tarball, work)
    log = work / "kmodkit-prepare.log"
    _make(spec, work, [spec.defconfig], log)
    fragment = ATH79_BASE + chain_fragment(spec.fragment_target, read_version(work / "Makefile"))
    (work / "kmodkit-fragment.config").write_text(fragment)
    config = work / ".config"
    config.write_text(_merge(config.read_text(), fragment))
    _make(spec, work, ["olddefconfig", "modules_prepare"], log)
    # Symbols this kernel no longer has (NF_LOG_COMMON) or folded into nf_tables (NFT_META...)
    # cannot be kept; a module the chain needs that did not become =m fails at compile time.
    unmet = _unmet(parse_config(config.read_text()), fragment)
    (work / "Module.symvers").write_bytes(b"")  # no vmlinux: exports are not checked here
    _stable_mtime(config, work / "Makefile")
    return {
        "machine": spec.machine,
        "defconfig": spec.defconfig,
        "note": "no vmlinux Module.symvers: symbols from vmlinux are not checked",
        "fragment_not_applied": unmet,
        "make_vars": ["KBUILD_MODPOST_WARN=1"],
    }


def chain_fragment(target: str, kernel_version: str) -> str:
    """The kernel fragment `invoke generate` writes for kmod-nft-offload on ``target``."""
    from kmodkit.catalog import load_catalog, lookup_release, lookup_target
    from kmodkit.render.fragment import render_kernel_fragment
    from kmodkit.resolve import resolve_closure

    closure = resolve_closure(
        load_catalog(()),
        ["kmod-nft-offload"],
        release=lookup_release("24.10"),
        target=lookup_target(target),
        kernel_version=kernel_version,
    )
    return render_kernel_fragment(closure)


def _merge(config: str, fragment: str) -> str:
    """Fragment symbols replace the .config's own lines (merge_config.sh without the script)."""
    wanted = {m.group(1) for m in re.finditer(r"(CONFIG_\w+)[= ]", fragment)}
    kept = [
        line
        for line in config.splitlines()
        if not any(re.match(rf"^(# )?{s}[= ]", line) for s in wanted)
    ]
    return "\n".join(kept) + "\n" + fragment


def _unmet(config: dict[str, str], fragment: str) -> list[str]:
    out = []
    for line in fragment.splitlines():
        symbol, _, value = line.partition("=")
        if line.startswith("CONFIG_") and config.get(symbol) != value:
            out.append(f"{symbol}={value}")
    return out


def _config_differences(work: Path) -> list[str]:
    """=y/=m lines olddefconfig dropped or added here (compiler features such as BTF)."""

    def hashed(path: Path) -> set[str]:
        return {line for line in path.read_text().splitlines() if re.search("=[ym]", line)}

    ours, theirs = hashed(work / ".config"), hashed(work / DEBIAN_CONFIG)
    return sorted(f"-{x}" for x in theirs - ours) + sorted(f"+{x}" for x in ours - theirs)


def _stable_mtime(path: Path, reference: Path) -> None:
    """SOURCE_DATE_EPOCH defaults to the config's mtime: take it from the unpacked sources."""
    stamp = reference.stat().st_mtime
    os.utime(path, (stamp, stamp))
