"""modules.elf-arch (the CPU of every .ko vs the package arch) and feed.kernel-package."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kmodkit.formats.opkg_feed import filter_packages, manifest_stanza
from kmodkit.verify import VerifyOptions, VerifyReport, verify_paths
from kmodkit.verify.checks_elf import ElfArch, elf_identity, expected_elf


def run(paths: list[Path]) -> VerifyReport:
    return verify_paths(paths, options=VerifyOptions())


def elf_header(bits: int, endian: str, machine: int) -> bytes:
    order = "<" if endian == "little" else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if endian == "little" else 2, 1])
    return ident.ljust(16, b"\0") + struct.pack(order + "HH", 1, machine) + b"\0" * 40


@pytest.mark.parametrize(
    ("pkg_arch", "expected"),
    [
        ("x86_64", ElfArch(62, 64, "little")),
        ("aarch64_generic", ElfArch(183, 64, "little")),
        ("aarch64_cortex-a53", ElfArch(183, 64, "little")),
        ("mipsel_24kc", ElfArch(8, 32, "little")),
        ("mips_24kc", ElfArch(8, 32, "big")),
        ("arm_cortex-a7_neon-vfpv4", ElfArch(40, 32, "little")),
        ("i386_pentium4", ElfArch(3, 32, "little")),
    ],
)
def test_package_arch_names_elf_identity(pkg_arch: str, expected: ElfArch) -> None:
    assert expected_elf(pkg_arch) == expected
    header = elf_header(expected.bits, expected.endian, expected.machine)
    assert elf_identity(header) == expected


def test_big_and_little_endian_mips_differ_only_in_byte_order() -> None:
    big = elf_identity(elf_header(32, "big", 8))
    little = elf_identity(elf_header(32, "little", 8))
    assert big is not None and little is not None
    assert big.machine == little.machine == 8 and big.endian != little.endian
    assert elf_identity(b"not an elf at all, really") is None
    assert expected_elf("sparc_v9") is None


def test_x86_modules_in_an_aarch64_package_fail(make_ipk, write_feed) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"], arch="aarch64_generic")], sign=False)
    report = run([feed])
    bad = report.failures("modules.elf-arch")
    assert len(bad) == 1
    assert "x86-64 64-bit little-endian" in bad[0].message
    assert "aarch64_generic needs AArch64" in bad[0].message


def test_matching_modules_pass_elf_arch(make_ipk, write_feed) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"])], sign=False)
    results = [r for r in run([feed]).results if r.check_id == "modules.elf-arch"]
    assert [r.status for r in results] == ["pass"]


def test_index_offering_the_kernel_package_fails(make_ipk, kernel_ipk, write_feed) -> None:
    feed = write_feed([make_ipk("kmod-nf-a", ["nf_a"]), kernel_ipk], sign=False)
    clean = run([feed])
    assert [r.status for r in clean.results if r.check_id == "feed.kernel-package"] == ["pass"]
    stanza = filter_packages(manifest_stanza(*kernel_ipk))
    index = feed / "Packages"
    index.write_bytes(index.read_bytes().rstrip(b"\n") + b"\n\n" + stanza)
    (feed / "Packages.gz").unlink()
    bad = run([feed]).failures("feed.kernel-package")
    assert len(bad) == 1 and "openwrt/openwrt#16808" in bad[0].message
    assert bad[0].artifact.endswith("Packages")
