"""Seeds and mutators for the fuzz suite (tests/fuzz): real artifacts, damaged on purpose.

Seeds are the real-tool vectors (tests/vectors) plus small packages and feeds made with
kmodkit's own writers. Mutations reach every layer: a compressed artifact is unpacked, one of
its layers damaged and the rest packed again, so the damage gets past gzip/deflate checksums
to the tar, control, ADB and schema readers behind them.

``KMODKIT_FUZZ_EXAMPLES`` scales every fuzz test (default 1: about 40 s on two cores).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from elf_builder import EM_X86_64, build_elf
from kmodkit.formats import adb, apk_sign
from kmodkit.formats.apk import pack_apk
from kmodkit.formats.apk_index import build_index
from kmodkit.formats.gzipio import gzip_compress, gzip_decompress
from kmodkit.formats.ipk import ipk_filename, pack_ipk
from kmodkit.formats.model import OPENWRT_POSTINST, Entry, PackageInput, PackageMeta
from kmodkit.formats.opkg_feed import build_feed_index
from kmodkit.formats.tarball import read_tar, write_gnu_tar
from kmodkit.formats.usign import generate_keypair

VECTORS = Path(__file__).resolve().parent / "vectors"
EPOCH = 1735689600
HASH = "1745ebad77278f5cdc8330d17a3f43d6"
SCALE = max(1, int(os.environ.get("KMODKIT_FUZZ_EXAMPLES", "1")))


def fuzz_settings(examples: int) -> settings:
    """``examples`` (times SCALE) per test, no deadline: CPU is shared, time is not asserted."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ------------------------------------------------------------------------------------ seeds


def module(name: str, depends: str = "") -> bytes:
    modinfo = f"name={name}\0depends={depends}\0vermagic=6.6.93 SMP mod_unload\0".encode()
    return build_elf(
        is64=True,
        big_endian=False,
        modinfo=modinfo,
        symbols=[(f"{name}_init", True), ("printk", False)],
        machine=EM_X86_64,
    )


def _input(name: str, depends: tuple[str, ...], description: str) -> PackageInput:
    meta = PackageMeta(
        name,
        "6.6.93-r1",
        "x86_64",
        description,
        depends=(f"kernel (=6.6.93~{HASH}-r1)", *depends),
        source="feeds/base/kernel/linux",
        source_name="kernel",
        source_date_epoch=EPOCH,
    )
    base = name.removeprefix("kmod-").replace("-", "_")
    entries = (
        Entry("etc/modules.d", "dir", 0o755),
        Entry(f"etc/modules.d/{name[5:]}", "file", 0o644, f"{base}\n".encode()),
        Entry("etc/modules-boot.d", "dir", 0o755),
        Entry(
            f"etc/modules-boot.d/{name[5:]}", "symlink", 0o777, target=f"../modules.d/{name[5:]}"
        ),
        Entry(f"lib/modules/6.6.93/{base}.ko", "file", 0o644, module(base)),
    )
    return PackageInput(meta, entries, {"postinst": OPENWRT_POSTINST})


@cache
def inputs() -> tuple[PackageInput, ...]:
    """Two kmods and the virtual ``kernel`` package their kernel dependency names."""
    kernel = PackageMeta("kernel", f"6.6.93~{HASH}-r1", "x86_64", "Linux kernel")
    return (
        _input("kmod-fuzz-a", (), "First paragraph.\n\nSecond paragraph."),
        _input("kmod-fuzz-b", ("kmod-fuzz-a",), "Depends on a."),
        PackageInput(kernel, ()),
    )


@cache
def ipks() -> tuple[tuple[str, bytes], ...]:
    """(file name, bytes): kmodkit's three packages and the real OpenWrt 23.05.2 kernel ipk."""
    ours = tuple((ipk_filename(p.meta), pack_ipk(p, source_date_epoch=EPOCH)) for p in inputs())
    real = next((VECTORS / "ipk").glob("*.ipk"))
    return (*ours, (real.name, real.read_bytes()))


@cache
def apks() -> tuple[tuple[str, bytes], ...]:
    ours = tuple(
        (f"{p.meta.name}-{p.meta.version}.apk", pack_apk(p, source_date_epoch=EPOCH))
        for p in inputs()
    )
    real = sorted((VECTORS / "apk").glob("*.apk")) + sorted((VECTORS / "apk/feed").glob("*.apk"))
    return (*ours, *((p.name, p.read_bytes()) for p in real))


@cache
def usign_pair() -> tuple[str, str]:
    secret, public = generate_keypair("fuzz")
    return secret.to_text(), public.to_text()


@cache
def apk_key_pem() -> tuple[bytes, bytes]:
    key = apk_sign.generate_signing_key()
    return apk_sign.private_key_pem(key), apk_sign.public_key_pem(key.public_key())


@cache
def packages_files() -> tuple[bytes, ...]:
    index = build_feed_index(list(ipks()[:3]))
    return (index.packages, index.manifest, (VECTORS / "usign/Packages").read_bytes())


@cache
def index_files() -> tuple[bytes, ...]:
    key = apk_sign.load_private_key(apk_key_pem()[0], "fuzz key")
    ours = build_index(list(apks()[:3]), signing_key=key)
    return (ours, (VECTORS / "apk/feed/packages.adb").read_bytes())


@cache
def control_texts() -> tuple[str, ...]:
    ours = []
    for _, blob in ipks():
        outer = read_tar(gzip_decompress(blob, "o")[0], "o")
        control_gz = next(m.data for m in outer.members if m.name == "./control.tar.gz")
        inner = read_tar(gzip_decompress(control_gz, "c")[0], "c")
        ours.append(next(m.data for m in inner.members if m.name == "./control").decode())
    ours.append((VECTORS / "ipk/third-party-23.05-dnsmasq-full.control").read_text())
    return tuple(ours)


# -------------------------------------------------------------------------------- mutators


@st.composite
def damaged(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes changed, a slice cut, repeated or inserted, or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        how = draw(st.sampled_from(["flip", "flip", "cut", "dup", "insert", "truncate", "num"]))
        at = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif how == "dup":
            end = min(len(data), at + draw(st.integers(1, 512)))
            data[at:at] = data[at:end]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "num":  # a numeric field's worst values: huge, zero, all ones
            width = draw(st.sampled_from([1, 2, 4, 8]))
            data[at : at + width] = draw(st.sampled_from([b"\xff", b"\x00", b"\x7f"])) * width
        else:
            del data[at:]
    return bytes(data)


def _regzip(blob: bytes, transform: st.SearchStrategy[bytes] | None, draw: st.DrawFn) -> bytes:
    """Damage the gzip stream itself, or what it holds (then compress again)."""
    if transform is None:
        return draw(damaged(blob))
    return gzip_compress(transform)


@st.composite
def damaged_ipk(draw: st.DrawFn) -> tuple[str, bytes]:
    """An ipk damaged in one layer: the outer gzip, the outer tar, control.tar or data.tar
    (their gzip streams or the tars inside), or the control text itself."""
    name, blob = draw(st.sampled_from(ipks()))
    layer = draw(st.sampled_from(["gzip", "outer", "control.tar", "data.tar", "control", "gz"]))
    if layer == "gzip":
        return name, draw(damaged(blob))
    outer = read_tar(gzip_decompress(blob, name)[0], name).members
    if layer == "outer":
        return name, gzip_compress(draw(damaged(write_gnu_tar(outer))))
    index = 1 if layer == "data.tar" else 2
    inner_gz = outer[index].data
    if layer == "gz":
        new_inner = draw(damaged(inner_gz))
    else:
        inner = read_tar(gzip_decompress(inner_gz, name)[0], name).members
        if layer == "control":
            control = next(i for i, m in enumerate(inner) if m.name == "./control")
            text = draw(damaged(inner[control].data))
            tar = write_gnu_tar(
                [*inner[:control], inner[control]._replace(data=text), *inner[control + 1 :]]
            )
        else:
            tar = draw(damaged(write_gnu_tar(inner)))
        new_inner = gzip_compress(tar)
    members = list(outer)
    members[index] = members[index]._replace(data=new_inner)
    return name, gzip_compress(write_gnu_tar(members))


@st.composite
def damaged_adb(draw: st.DrawFn, blob: bytes) -> bytes:
    """An apk or packages.adb damaged in its compressed form or in the stream inside."""
    if draw(st.booleans()):
        return draw(damaged(blob))
    stream = adb.parse_container(blob, "seed").stream
    broken = draw(damaged(stream))
    if broken[:4] == b"ADB." and draw(st.booleans()):
        return adb.compress(broken, draw(st.sampled_from(["deflate", "none"])))
    return broken


@st.composite
def damaged_apk(draw: st.DrawFn) -> tuple[str, bytes]:
    name, blob = draw(st.sampled_from(apks()))
    return name, draw(damaged_adb(blob))


@st.composite
def damaged_index(draw: st.DrawFn) -> bytes:
    return draw(damaged_adb(draw(st.sampled_from(index_files()))))


@st.composite
def damaged_text(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    return draw(damaged(draw(st.sampled_from(seeds))))
