"""What goes into the guest: kmodloader's load order, the /init script, the control ruleset,
the userland's libraries, and how the serial markers become check results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodkit.boottest import init
from kmodkit.boottest.feed import find_feeds, load_plan, modules_d, modules_of, read_feed
from kmodkit.boottest.kernel_image import KernelImage, bzimage_release, debian_version_to_kernel
from kmodkit.boottest.results import module_findings, parse_serial, scenario_findings
from kmodkit.boottest.runner import BootOptions, build_image, target_label
from kmodkit.boottest.userland import closure, elf_deps
from kmodkit.errors import KernelTreeError, UsageError
from kmodkit.verify.model import Findings


def test_control_ruleset_drops_only_the_flow_statement() -> None:
    control = init.control_ruleset(init.DEFAULT_RULESET)
    assert init.has_flow_statement(init.DEFAULT_RULESET)
    assert not init.has_flow_statement(control)
    assert "meta l4proto { tcp, udp }" in control and "masquerade" in control
    assert "flowtable ft" in control
    fw4 = "chain forward { meta l4proto { tcp, udp } flow offload @ft; }"
    assert init.control_ruleset(fw4) == "chain forward { meta l4proto { tcp, udp } ; }"


def test_nft_libraries_come_from_dt_needed() -> None:
    nft = Path(shutil.which("nft", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/nft")
    deps = elf_deps(nft)
    assert deps.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libnftables.so.1" in deps.needed
    libs = closure([nft], "x86_64")
    names = {Path(p).name for p in libs}
    assert {"libnftables.so.1", "libc.so.6", "libmnl.so.0", "ld-linux-x86-64.so.2"} <= names
    assert all(path.is_file() for path in libs.values())


def test_a_missing_library_is_named(tmp_path: Path) -> None:
    nft = Path("/usr/sbin/nft")
    interp = elf_deps(nft).interpreter
    assert interp is not None
    (tmp_path / "usr/sbin").mkdir(parents=True)
    shutil.copy(nft, tmp_path / "usr/sbin/nft")
    (tmp_path / interp.lstrip("/")).parent.mkdir(parents=True)
    shutil.copy(Path(interp).resolve(), tmp_path / interp.lstrip("/"))
    with pytest.raises(KernelTreeError, match=r"needed library libnftables\.so\.1 not found"):
        closure([tmp_path / "usr/sbin/nft"], "x86_64", root=tmp_path)


def test_serial_markers_become_results() -> None:
    serial = "\n".join(
        [
            "[    1.0] random kernel line",
            "@@KMK start",
            "@@KMK osrelease 6.1.0-50-amd64",
            "@@KMK mod-ok kmod-a a_mod",
            "@@KMK mod-fail kmod-b b_mod insmod: can't insert 'b_mod.ko': unknown symbol",
            "@@KMK kmsg b_mod [    2.5] b_mod: Unknown symbol a_missing (err -2)",
            "@@KMK modules-done",
            "@@KMK net-ok",
            "@@KMK ruleset-ok control",
            "@@KMK ruleset-fail offload Error: Could not process rule: No such file or directory",
            "@@KMK flow control tcp 100 100 no ipv4 2 tcp 6 src=1 dport=5011 [ASSURED]",
            "@@KMK flow control udp 100 40 no",
        ]
    )
    report = parse_serial(serial)
    assert report.started and not report.ended and report.osrelease == "6.1.0-50-amd64"
    findings = Findings()
    module_findings(report, ["kmod-a", "kmod-b", "kmod-c"], findings)
    scenario_findings(report, "x86/64", findings)
    got = {(r.artifact, r.check_id): (r.status, r.message) for r in findings.results()}
    assert got[("kmod-a", "boot.modules")] == ("pass", "loaded a_mod")
    assert got[("kmod-b", "boot.modules")] == (
        "fail",
        "b_mod did not load: b_mod: Unknown symbol a_missing (err -2)",
    )
    assert got[("kmod-c", "boot.modules")] == ("pass", "no kernel modules")
    status, message = got[("x86/64", "boot.ruleset")]
    assert status == "fail" and "Could not process rule" in message
    status, message = got[("x86/64", "boot.transfer")]
    assert status == "fail" and "40 of 100 bytes" in message
    udp = Findings()
    flows = "\n".join(
        [
            "@@KMK net-ok",
            "@@KMK ruleset-ok offload",
            "@@KMK flow offload tcp 10 10 yes x",
            "@@KMK flow offload udp 1000 960 yes x",
        ]
    )
    scenario_findings(parse_serial(flows), "t", udp)
    (transfer,) = [r for r in udp.results() if r.check_id == "boot.transfer"]
    assert transfer.status == "pass" and "960 of 1,000 bytes echoed" in transfer.message
    status, message = got[("x86/64", "boot.control")]
    assert status == "fail" and "UDP flow never reached conntrack" in message


def test_debian_versions() -> None:
    assert debian_version_to_kernel("6.1.176-1") == "6.1.176"
    assert debian_version_to_kernel("1:6.12.9-1~bpo12+1") == "6.12.9"
    assert bzimage_release(b"\0" * 1024) is None


@pytest.mark.kernel
def test_load_order_follows_modules_d_and_depends(feed_dir: Path) -> None:
    feed = read_feed(feed_dir)
    plan, unknown = load_plan(feed)
    assert unknown == []
    order = [step.module for step in plan]
    assert sorted(order) == sorted(modules_of(feed)) and len(set(order)) == len(order)
    modules = modules_of(feed)
    for i, step in enumerate(plan):
        assert set(modules[step.module].info.depends) <= set(order[:i]), step.module
    files = modules_d(feed)
    assert [f[0] for f in files] == sorted(f[0] for f in files)
    first_named = files[0][2][0][0]
    first_step = next(s for s in plan if s.module == first_named)
    assert all(s.autoload for s in plan[: plan.index(first_step) + 1])


@pytest.mark.kernel
def test_kernel_image_identity_and_initramfs_determinism(
    feed_dir: Path, kernel_image: KernelImage
) -> None:
    assert bzimage_release(kernel_image.image.read_bytes()) == kernel_image.release
    feed = read_feed(feed_dir)
    dep = feed.packages[0].kernel_dependency()
    assert dep is not None and dep.split("~")[1].rsplit("-", 1)[0] in kernel_image.config_hashes()
    first, script = build_image(
        feed, kernel_image, "x86_64", init.DEFAULT_RULESET, True, Findings(), "x86/64"
    )
    again, _ = build_image(
        read_feed(feed_dir), kernel_image, "x86_64", init.DEFAULT_RULESET, True, Findings(), "t"
    )
    assert first == again
    assert script.count("\nload ") == len(modules_of(feed)) + len(kernel_image.modules)
    assert BootOptions(path=feed_dir).timeout > 0


@pytest.mark.kernel
def test_feeds_of_a_dist_tree_and_of_a_release_layout(feed_dir: Path, tmp_path: Path) -> None:
    dist = feed_dir.parents[2]
    assert find_feeds(dist) == [feed_dir]
    assert target_label(feed_dir, dist) == "/".join(feed_dir.parts[-3:])
    assert target_label(feed_dir, feed_dir) == "x86/64"
    # invoke release: ipks, Packages, apks and packages.adb side by side in kmods/<name>/
    kmods = tmp_path / "releases" / "v" / "targets" / "x86" / "64" / "kmods" / "6.1-1-hash"
    kmods.mkdir(parents=True)
    for sub in ("ipk", "apk"):
        for path in (feed_dir / sub).iterdir():
            shutil.copy(path, kmods / path.name)
    assert find_feeds(tmp_path) == [kmods]
    feed = read_feed(kmods)
    assert feed.kind == "ipk" and feed.names() == read_feed(feed_dir).names()
    (kmods / "Packages").unlink()
    assert read_feed(kmods).kind == "apk"
    with pytest.raises(UsageError, match=r"no Packages or packages\.adb"):
        read_feed(tmp_path)
