"""aarch64: the armsr/armv8 distro feed boots Debian's own arm64 kernel under
`qemu-system-aarch64 -M virt -cpu max` (TCG), kernel and busybox-static from Debian's signed
archive; module loading only (no arm64 nft/ip/socat in the guest, said in the notes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodkit.boottest import BootOptions, BootReport, run_boottest
from kmodkit.boottest.feed import modules_of, read_feed
from kmodkit.pipeline.build import BuildOptions, build

pytestmark = [pytest.mark.kernel, pytest.mark.boot]


@pytest.fixture(scope="module")
def arm64_feed(kmodkit_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist-arm64")
    return build(BuildOptions(target="armsr/armv8", out=out)).out_dir


@pytest.fixture(scope="module")
def arm64_boot(arm64_feed: Path) -> BootReport:
    return run_boottest(BootOptions(path=arm64_feed))


def test_arm64_kernel_boots_and_every_module_loads(
    arm64_boot: BootReport, arm64_feed: Path
) -> None:
    (run,) = arm64_boot.runs
    assert run.release.endswith("-arm64") and run.accel == "tcg"
    by_check: dict[str, list[str]] = {}
    for r in arm64_boot.report.results:
        assert r.status == "pass", r.one_line()
        by_check.setdefault(r.check_id, []).append(r.message)
    (kernel,) = by_check["boot.kernel"]
    assert kernel.startswith(f"booted {run.release}")
    loaded = {
        m for msg in by_check["boot.modules"] if msg.startswith("loaded ") for m in msg.split()[1:]
    }
    assert loaded == set(modules_of(read_feed(arm64_feed)))
    assert by_check["boot.identity"] and "(arm64)" in by_check["boot.image"][0]
    assert "boot.offload" not in by_check  # no scenario on a foreign architecture ...
    assert any("module loading only" in note for note in arm64_boot.report.notes)  # ... said so
    assert "@@KMK end" in run.serial
