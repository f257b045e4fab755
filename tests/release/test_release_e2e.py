"""`invoke release` end to end on the distro kernels (x86/64 and cross-built arm64).

The compiled modules come from the session cache (shared with the build and cross tests), so
these runs mostly pack, lay out, sign and verify. They check the interface the issue names,
the official layout, the shard merge, a failing pair and two concurrent runs on one cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import run_invoke
from kmodkit.formats import ipk, usign
from kmodkit.release.layout import files_under
from kmodkit.release.merge import merge_trees
from kmodkit.release.run import ReleaseOptions, release
from kmodkit.verify import VerifyOptions, verify_paths
from kmodkit.verify.checks_elf import elf_identity

pytestmark = [pytest.mark.kernel, pytest.mark.cross]
TARGETS = "x86/64,armsr/armv8"
REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_invoke(*args, cwd=cwd, timeout=None)


@pytest.fixture(scope="module")
def single(kmodkit_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interface check: `invoke release --targets x86/64,armsr/armv8 --out DIR`."""
    work = tmp_path_factory.mktemp("release")
    proc = invoke("release", "--targets", TARGETS, "--out", str(work / "DIR"), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "distro:armsr/armv8" in proc.stdout and "verify:" in proc.stdout
    return work / "DIR"


def all_bytes(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in files_under(root)}


def test_interface_check(single: Path) -> None:
    sums = sorted(single.rglob("sha256sums"))
    assert len(sums) >= 2
    offload = list(single.glob("releases/*/targets/armsr/armv8/kmods/*/kmod-nft-offload_*.ipk"))
    assert len(offload) == 1 and offload[0].name.endswith("_aarch64_generic.ipk")
    pkg = ipk.read_ipk(offload[0].read_bytes(), offload[0].name)
    kos = [e.data for e in pkg.entries if e.path.endswith(".ko")]
    assert kos and all(elf_identity(k) and elf_identity(k).machine == 183 for k in kos)  # type: ignore[union-attr]
    proc = invoke("verify", str(single), cwd=single.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layout_sums_and_index(single: Path) -> None:
    index = json.loads((single / "index.json").read_text())
    pairs = {(p["release"], p["target"]): p for p in index["pairs"]}
    assert {t for _, t in pairs} == {"x86/64", "armsr/armv8"}
    usign_id = index["keys"]["usign"]
    public = usign.read_public_key((single / "keys" / usign_id).read_text())
    for (ver, target), record in pairs.items():
        tdir = single / "releases" / ver / "targets" / target
        assert record["dir"] == tdir.relative_to(single).as_posix()
        kmods = single / record["kmods"]
        assert kmods.parent.name == "kmods"
        kernel = record["kernel"]
        assert kmods.name == f"{kernel['version']}-1-{kernel['vermagic_hash']}"
        assert {"Packages", "Packages.sig", "packages.adb"} <= {p.name for p in kmods.iterdir()}
        sums = (tdir / "sha256sums").read_bytes()
        listed = [line.split(" *", 1)[1] for line in sums.decode().splitlines()]
        assert listed == [r for r in files_under(tdir) if not r.startswith("sha256sums")]
        sig = usign.read_signature((tdir / "sha256sums.sig").read_text())
        assert usign.verify(sums, sig, public)
        for artifact in record["artifacts"]:
            assert (single / artifact["path"]).stat().st_size == artifact["size"]
        signed = {a["path"].rsplit("/", 1)[-1]: a.get("signed_by") for a in record["artifacts"]}
        assert signed["sha256sums.sig"] == f"usign:{usign_id}"
        assert signed["packages.adb"] == f"apk:{index['keys']['apk']}"


def test_no_index_offers_the_kernel(single: Path) -> None:
    report = verify_paths([single], options=VerifyOptions(keys=single / "keys"))
    checks = [r for r in report.results if r.check_id == "feed.kernel-package"]
    assert len(checks) == 4 and {r.status for r in checks} == {"pass"}  # 2 pairs x ipk + apk
    assert report.failed == 0


def test_shards_merge_byte_identical_to_the_single_run(single: Path, tmp_path: Path) -> None:
    shards = []
    for index in (1, 2):
        out = tmp_path / f"shard{index}"
        result = release(
            ReleaseOptions(targets=tuple(TARGETS.split(",")), shard=f"{index}/2", out=out)
        )
        assert result.published and len(result.outcomes) == 1 and not result.failed
        shards.append(out)
    merged = merge_trees(shards, tmp_path / "merged")
    assert merged.pairs == 2
    assert all_bytes(tmp_path / "merged") == all_bytes(single)


def test_merge_refuses_conflicting_shards(single: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(single, other)
    (sums,) = list(other.glob("releases/*/targets/x86/64/sha256sums"))
    sums.write_bytes(sums.read_bytes() + b"0" * 64 + b" *extra\n")
    from kmodkit.errors import UsageError

    with pytest.raises(UsageError, match="differs"):
        merge_trees([single, other], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_a_failing_pair_leaves_the_others_published(kmodkit_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "DIR"
    proc = invoke("release", "--targets", "x86/64,mediatek/mt7623", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED" in proc.stdout and "no distro kernel for 'arm'" in proc.stdout
    index = json.loads((out / "index.json").read_text())
    assert [p["target"] for p in index["pairs"]] == ["x86/64"]
    assert not list(out.glob("releases/*/targets/mediatek"))
    assert verify_paths([out], options=VerifyOptions(keys=out / "keys")).failed == 0


def test_two_concurrent_releases_on_one_cache(kmodkit_cache: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "invoke", "-r", str(REPO), "release", "--targets", "x86/64"]
    procs = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all_bytes(tmp_path / "a") == all_bytes(tmp_path / "b")


def test_every_pair_failing_publishes_nothing(kmodkit_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "DIR"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    result = release(ReleaseOptions(targets=("mediatek/mt7623",), out=out))
    assert not result.published and len(result.failed) == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_two_targets_of_one_arch_share_one_prepared_tree(
    single: Path, kmodkit_cache: Path, tmp_path: Path
) -> None:
    """armsr/armv8 (aarch64_generic) and mediatek/filogic (aarch64_cortex-a53) in parallel:
    one arm64 tree, prepared once, its modules compiled once; each with its own arch."""
    trees = (kmodkit_cache / "trees").iterdir()
    (tree,) = [p for p in trees if p.is_dir() and p.name.startswith("aarch64-")]
    stamp = (tree / "kmodkit-tree.json").stat().st_mtime_ns
    result = release(
        ReleaseOptions(targets=("armsr/armv8", "mediatek/filogic"), out=tmp_path / "DIR", jobs=2)
    )
    assert result.published and not result.failed
    assert [o.compiled for o in result.outcomes] == [0, 0]
    assert (tree / "kmodkit-tree.json").stat().st_mtime_ns == stamp
    arches = {r["target"]: r["pkg_arch"] for o in result.outcomes if (r := o.record)}
    assert arches == {"armsr/armv8": "aarch64_generic", "mediatek/filogic": "aarch64_cortex-a53"}
    assert list(
        (tmp_path / "DIR").glob(
            "releases/*/targets/mediatek/filogic/kmods/*/*_aarch64_cortex-a53.ipk"
        )
    )
