"""What an official OpenWrt image is told to do, on the real x86_64 feed (no guest here):
the served files, opkg's and apk's feed setup, the scenario script, the installed-file check."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmodkit.boottest import image_boot, image_plan, init
from kmodkit.boottest.feed import read_feed
from kmodkit.boottest.image_boot import gunzip_to, identity_findings, image_command
from kmodkit.boottest.qemu import MACHINES
from kmodkit.boottest.runner import feed_release
from kmodkit.formats import usign
from kmodkit.sdk.images import FetchedImage, ImageFiles
from kmodkit.sdk.mirror import KernelInfo
from kmodkit.verify.model import Findings

URL = "http://10.0.2.2:8080"


def test_opkg_setup_trusts_the_feed_key_and_makes_it_the_only_feed(feed_dir: Path) -> None:
    feed = read_feed(feed_dir)
    keys = image_plan.read_keys(feed)
    (key_id,) = keys.usign
    # the key shipped beside the feed is the one that signed its Packages index
    sig = usign.read_signature((feed_dir / "ipk" / "Packages.sig").read_text())
    assert sig.key_id_hex == key_id
    commands = image_plan.feed_commands("ipk", URL, keys, ["kmod-b", "kmod-a"])
    assert commands == [
        "mkdir -p /etc/opkg/keys",
        f"wget -q -O /etc/opkg/keys/{key_id} {URL}/keys/{key_id}",
        "mv /etc/opkg/distfeeds.conf /etc/opkg/distfeeds.conf.off",
        f"echo 'src/gz kmodkit {URL}/feed' > /etc/opkg/customfeeds.conf",
        "opkg update",
        "opkg install --force-reinstall --force-downgrade kmod-a kmod-b",
    ]
    served = image_plan.served_files(feed, keys, "#!/bin/sh\n", init.DEFAULT_RULESET)
    # every URL the commands name is served, and the feed index is the one on disk
    assert served[f"keys/{key_id}"] == (feed_dir / "keys" / key_id).read_bytes()
    assert served["feed/Packages"] == (feed_dir / "ipk" / "Packages").read_bytes()
    assert gzip.decompress(served["feed/Packages.gz"]) == served["feed/Packages"]
    assert any(name.startswith("feed/kmod-nft-offload_") for name in served)
    assert b"flow add" not in served["kmodkit/control.nft"]
    assert b"flow add @ft" in served["kmodkit/ruleset.nft"]


def test_apk_setup_installs_the_pem_and_a_repository_list(feed_dir: Path) -> None:
    keys = image_plan.read_keys(read_feed(feed_dir))
    (pem,) = keys.apk
    assert keys.apk[pem].startswith(b"-----BEGIN PUBLIC KEY-----")
    commands = image_plan.feed_commands("apk", URL, keys, ["kmod-a"])
    assert f"wget -q -O /etc/apk/keys/{pem} {URL}/keys/{pem}" in commands
    assert f"echo {URL}/feed/packages.adb > /etc/apk/repositories.d/kmodkit.list" in commands
    assert commands[-1] == "apk add kmod-a && apk fix --reinstall kmod-a"
    assert image_plan.tool_commands("apk") == ["apk update && apk add ip-full socat kmod-veth"]


def test_a_feed_without_its_keys_is_refused(feed_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "feed"
    (copy / "ipk").mkdir(parents=True)
    for path in (feed_dir / "ipk").iterdir():
        (copy / "ipk" / path.name).write_bytes(path.read_bytes())
    with pytest.raises(image_plan.UsageError, match="no keys/"):
        image_plan.read_keys(read_feed(copy))
    empty = image_plan.FeedKeys({}, {})
    with pytest.raises(image_plan.UsageError, match="usign"):
        image_plan.feed_commands("ipk", URL, empty, ["kmod-a"])


def test_scenario_script_is_the_debian_scenario_for_a_running_system(feed_dir: Path) -> None:
    feed = read_feed(feed_dir)
    release = feed_release(feed)
    script = image_plan.scenario_script(feed, release)
    assert "mount -t proc" not in script and "poweroff" not in script  # procd owns the system
    assert init.LOAD.replace("load() {", "load_now() {") in script
    assert 'if [ -d "/sys/module/$2" ]; then say mod-ok' in script
    assert f"load kernel veth /lib/modules/{release}/veth.ko ''" in script
    assert "load kmod-nft-offload nft_flow_offload /lib/modules/" in script
    for phase in init.PHASES:
        assert f"phase {phase[0]} {phase[1]}" in script
    assert script.rstrip().endswith("say end")
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)  # it parses
    assert (
        image_plan.served_files(feed, image_plan.read_keys(feed), script, "x")[image_plan.SCRIPT]
        == script.encode()
    )


def test_installed_check_finds_a_module_that_is_not_the_feed_build(feed_dir: Path) -> None:
    command, wanted = image_plan.installed_check(read_feed(feed_dir))
    assert command.startswith("sha256sum /lib/modules/") and len(wanted) >= 20
    lines = [f"{digest}  {path}" for path, digest in wanted.items()]
    assert image_plan.installed_mismatches("\n".join(lines), wanted) == []
    first, second = sorted(wanted)[:2]
    lines = [f"{hashlib.sha256(b'x').hexdigest()}  {first}"]
    lines += [f"{d}  {p}" for p, d in wanted.items() if p not in (first, second)]
    assert image_plan.installed_mismatches("\n".join(lines), wanted) == [
        f"{first}: not the feed build",
        f"{second}: missing",
    ]


def test_identity_against_profiles_json(feed_dir: Path) -> None:
    feed = read_feed(feed_dir)
    dep = next(d for p in feed.packages if (d := p.kernel_dependency()))
    version, _, rest = dep.partition("~")
    good, bad = Findings(), Findings()
    identity_findings(feed, KernelInfo(version, "1", rest.rsplit("-", 1)[0]), good)
    identity_findings(feed, KernelInfo("6.6.93", "1", "0" * 32), bad)
    assert good.results() and all(r.status == "pass" for r in good.results())
    assert bad.results() and all(r.status == "fail" for r in bad.results())
    assert "6.6.93~" + "0" * 32 in bad.results()[0].message


def test_image_boots_from_the_rootfs_on_a_virtio_disk(tmp_path: Path) -> None:
    command = image_command(MACHINES["aarch64"], "tcg", Path("k.bin"), Path("r.img"))
    assert command[:3] == ["qemu-system-aarch64", "-M", "virt"]
    assert "root=/dev/vda rootfstype=ext4 rootwait console=ttyAMA0 noinitrd" in command
    assert "file=r.img,format=raw,if=virtio" in command
    assert command[command.index("-serial") + 1] == "stdio"
    assert "user,id=lan" in command and "-no-reboot" not in command  # the test reboots
    # gunzip keeps one member and ignores trailing bytes (OpenWrt appends metadata)
    gz = tmp_path / "r.img.gz"
    gz.write_bytes(gzip.compress(b"ext4" * 1000, mtime=0) + b"\x00metadata")
    gunzip_to(gz, tmp_path / "r.img")
    assert (tmp_path / "r.img").read_bytes() == b"ext4" * 1000


def test_a_failing_guest_step_fails_boot_install_and_tears_everything_down(
    feed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_image_target on the fake console (a named stand-in for the image's console, which
    cannot boot here): the image boots, its first network command is not found, and the run
    ends with boot.install naming that command; the HTTP feed server is gone afterwards."""
    fake = [sys.executable, str(Path(__file__).with_name("fake_console.py")), "--only=echo"]
    ports: list[int] = []
    serve = image_boot.serve_directory

    @contextlib.contextmanager
    def recording_serve(root: Path) -> Iterator[int]:
        with serve(root) as port:
            ports.append(port)
            yield port

    monkeypatch.setattr(image_boot, "image_command", lambda *_a: fake)
    monkeypatch.setattr(image_boot, "serve_directory", recording_serve)
    feed = read_feed(feed_dir)
    dep = next(d for p in feed.packages if (d := p.kernel_dependency()))
    version, _, rest = dep.partition("~")
    (tmp_path / "k.bin").write_bytes(b"FAKE kernel")
    (tmp_path / "r.img.gz").write_bytes(gzip.compress(b"FAKE rootfs", mtime=0))
    image = FetchedImage(
        release="24.10.4",
        target="x86/64",
        files=ImageFiles("k.bin", "r.img.gz"),
        kernel=tmp_path / "k.bin",
        rootfs_gz=tmp_path / "r.img.gz",
        linux=KernelInfo(version, "1", rest.rsplit("-", 1)[0]),
        mirror="http://127.0.0.1:1",
        downloaded=[],
    )
    findings = Findings()
    run = image_boot.run_image_target(
        feed_dir,
        image,
        init.DEFAULT_RULESET,
        30,
        findings,
        lambda _m: None,
        keep_logs=tmp_path / "logs",
    )
    by_check = {(r.check_id, r.status) for r in findings.results() if r.artifact == run.label}
    assert ("boot.image", "pass") in by_check and ("boot.kernel", "pass") in by_check
    (install,) = [r for r in findings.results() if r.check_id == "boot.install"]
    assert install.status == "fail" and "`uci set network.lan.proto=dhcp" in install.message
    assert "exited 127" in install.message
    assert all(r.status == "pass" for r in findings.results() if r.check_id == "boot.identity")
    assert run.serial_log == tmp_path / "logs" / run.label / "serial.log"
    assert "Please press Enter" in run.serial_log.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=2).close()
