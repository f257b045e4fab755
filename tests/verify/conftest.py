"""Fixtures for verify tests: tiny REAL relocatable .ko objects (gcc -c), a stand-in kernel
build dir, and helpers that pack ipk/apk packages and write signed feeds with kmodkit's own
packers, so each test can break exactly one thing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodkit.formats import usign
from kmodkit.formats.ipk import pack_ipk
from kmodkit.formats.model import Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import write_opkg_feed

RELEASE = "6.6.93"
VERMAGIC = "6.6.93 SMP mod_unload"
EPOCH = 1735689600

MODULE_SOURCE = """
#define MODINFO(tag, text) static const char __modinfo_##tag[] \\
    __attribute__((section(".modinfo"), used, aligned(1))) = text
MODINFO(vermagic, "vermagic={vermagic}");
MODINFO(name, "name={name}");
MODINFO(depends, "depends={depends}");
MODINFO(license, "license=GPL");
{externs}
{exports}
int {name}_init(void) {{ return 0{calls}; }}
"""


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    vermagic: str = VERMAGIC
    depends: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()


# nf_a exports a_func; nf_b needs nf_a (modinfo depends + the symbol); both use printk
MODULE_SPECS = {
    "nf_a": ModuleSpec("nf_a", exports=("a_func",), uses=("printk",)),
    "nf_b": ModuleSpec("nf_b", depends=("nf_a",), uses=("a_func", "printk")),
    "nf_orphan": ModuleSpec("nf_orphan", uses=("nobody_exports_this",)),
    "nf_oldmagic": ModuleSpec("nf_oldmagic", vermagic="6.1.0-28-amd64 SMP mod_unload"),
}


def compile_module(spec: ModuleSpec, workdir: Path) -> bytes:
    externs = "\n".join(f"extern int {sym}();" for sym in spec.uses)
    exports = "\n".join(
        f"int {sym}(void) {{ return 1; }}\n"
        f"const void *__ksymtab_{sym} __attribute__((used)) = (const void *){sym};"
        for sym in spec.exports
    )
    calls = "".join(f" + {sym}()" for sym in spec.uses)
    source = MODULE_SOURCE.format(
        vermagic=spec.vermagic,
        name=spec.name,
        depends=",".join(spec.depends),
        externs=externs,
        exports=exports,
        calls=calls,
    )
    c_file = workdir / f"{spec.name}.c"
    c_file.write_text(source)
    ko = workdir / f"{spec.name}.ko"
    subprocess.run(["gcc", "-c", "-O0", "-o", str(ko), str(c_file)], check=True)
    return ko.read_bytes()


@pytest.fixture(scope="session")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Compiled once per session: real ELF relocatable objects with .modinfo and symbols."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the test .ko objects")
    workdir = tmp_path_factory.mktemp("ko")
    return {name: compile_module(spec, workdir) for name, spec in MODULE_SPECS.items()}


@pytest.fixture(scope="session")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in prepared kernel build dir (what `make modules_prepare` leaves)."""
    root = tmp_path_factory.mktemp("kernel")
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 6\nSUBLEVEL = 93\n")
    (root / ".config").write_text(
        "CONFIG_X86=y\nCONFIG_X86_64=y\nCONFIG_SMP=y\nCONFIG_MODULES=y\n"
        "CONFIG_MODULE_UNLOAD=y\nCONFIG_NETFILTER=y\n"
    )
    (root / "include/config").mkdir(parents=True)
    (root / "include/config/kernel.release").write_text(RELEASE + "\n")
    (root / "Module.symvers").write_text(
        "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n"
        "0x23456789\tnf_conntrack_in\tnet/netfilter/nf_conntrack\tEXPORT_SYMBOL_GPL\t\n"
    )
    return root


@pytest.fixture(scope="session")
def kernel_hash(kernel_dir: Path) -> str:
    from kmodkit.kernel import open_tree

    return open_tree(kernel_dir=kernel_dir, provision=False).vermagic_hash


@pytest.fixture(scope="session")
def usign_pair() -> tuple[usign.UsignSecretKey, usign.UsignPublicKey]:
    return usign.generate_keypair("verify test key")


MakeIpk = Callable[..., tuple[str, bytes]]


@pytest.fixture
def make_ipk(kernel_hash: str, modules: dict[str, bytes]) -> MakeIpk:
    """``make_ipk(name, mods=[...], depends=[...], arch=...)`` -> (file name, ipk bytes)."""

    def make(
        name: str,
        mods: Sequence[str] = (),
        depends: Sequence[str] = (),
        *,
        arch: str = "x86_64",
        version: str = "6.6.93-r1",
        kernel: str | None = None,
        autoload: Sequence[str] | None = None,
        release_dir: str = RELEASE,
        extra: Sequence[Entry] = (),
    ) -> tuple[str, bytes]:
        kdep = kernel or f"6.6.93~{kernel_hash}-r1"
        entries = [
            Entry(f"lib/modules/{release_dir}/{m}.ko", "file", 0o644, modules[m]) for m in mods
        ]
        load = list(mods) if autoload is None else list(autoload)
        if load:
            body = "".join(f"{m}\n" for m in sorted(load)).encode()
            entries.append(
                Entry(f"etc/modules.d/{name.removeprefix('kmod-')}", "file", 0o644, body)
            )
        entries += list(extra)
        meta = PackageMeta(
            name=name,
            version=version,
            arch=arch,
            description=f"test package {name}",
            depends=(f"kernel (={kdep})", *depends),
            source="feeds/base/kernel/linux",
            source_name="kernel",
            source_date_epoch=EPOCH,
        )
        pkg = PackageInput(meta=meta, entries=tuple(_with_dirs(entries)))
        return f"{name}_{version}_{arch}.ipk", pack_ipk(pkg, source_date_epoch=EPOCH)

    return make


def _with_dirs(entries: list[Entry]) -> list[Entry]:
    paths = {e.path: e for e in entries}
    for e in entries:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            paths.setdefault(d, Entry(d, "dir", 0o755))
    return [paths[p] for p in sorted(paths)]


@pytest.fixture
def kernel_ipk(kernel_hash: str) -> tuple[str, bytes]:
    """The virtual kernel package (kept out of the index by the feed writer)."""
    meta = PackageMeta(
        name="kernel",
        version=f"6.6.93~{kernel_hash}-r1",
        arch="x86_64",
        description="Virtual kernel package",
        section="sys",
        source_date_epoch=EPOCH,
    )
    data = pack_ipk(PackageInput(meta=meta, entries=()), source_date_epoch=EPOCH)
    return f"kernel_{meta.version}_x86_64.ipk", data


WriteFeed = Callable[..., Path]


@pytest.fixture
def write_feed(
    tmp_path: Path, usign_pair: tuple[usign.UsignSecretKey, usign.UsignPublicKey]
) -> WriteFeed:
    """Write ipks + index (signed unless ``sign=False``) into ``tmp_path/<name>``."""

    def write(ipks: Sequence[tuple[str, bytes]], *, name: str = "feed", sign: bool = True) -> Path:
        feed = tmp_path / name
        feed.mkdir(parents=True, exist_ok=True)
        for fname, data in ipks:
            (feed / fname).write_bytes(data)
        write_opkg_feed(feed, list(ipks), usign_pair[0] if sign else None)
        return feed

    return write


@pytest.fixture
def keys_dir(tmp_path: Path, usign_pair: tuple[usign.UsignSecretKey, usign.UsignPublicKey]) -> Path:
    path = tmp_path / "trusted"
    path.mkdir()
    pub = usign_pair[1]
    (path / pub.key_id_hex).write_text(pub.to_text())
    return path
