"""End to end: `invoke build --target x86_64` on the distro kernel, compiled by the real Kbuild.

One build per test session (module and pack caches shared through the session cache); the
tests then inspect the feed it produced, rebuild to prove nothing is redone, and break inputs
to prove failures are one line and leave dist/ alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

import standin_kernel
from cli_runner import run_invoke
from kmodkit.errors import KernelTreeError, UsageError
from kmodkit.formats import apk, apk_index, ipk, opkg_feed
from kmodkit.formats.control import parse_depends
from kmodkit.formats.depends import parse_apk_dependency
from kmodkit.kernel.modinfo import read_modinfo
from kmodkit.pipeline.build import BuildOptions, BuildResult, build

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="session")
def built(kmodkit_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("dist")
    return build(BuildOptions(target="x86_64", out=out))


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _ipks(result: BuildResult) -> dict[str, ipk.IpkPackage]:
    return {
        p.name: ipk.read_ipk(p.read_bytes(), p.name)
        for p in sorted((result.out_dir / "ipk").glob("*.ipk"))
    }


def test_nft_offload_package_ships_both_modules(built: BuildResult) -> None:
    release = built.tree.release
    wanted = {
        f"lib/modules/{release}/nf_flow_table_inet.ko",
        f"lib/modules/{release}/nft_flow_offload.ko",
    }
    (ipk_path,) = (built.out_dir / "ipk").glob("kmod-nft-offload_*.ipk")
    ipk_pkg = ipk.read_ipk(ipk_path.read_bytes(), ipk_path.name)
    assert wanted <= {e.path for e in ipk_pkg.entries if e.kind == "file"}
    (apk_path,) = (built.out_dir / "apk").glob("kmod-nft-offload-*.apk")
    apk_pkg = apk.read_apk(apk_path.read_bytes(), apk_path.name)
    assert wanted <= {e.path for e in apk_pkg.entries if e.kind == "file"}
    assert not apk_pkg.problems
    modules_d = {e.path: e.data for e in ipk_pkg.entries}["etc/modules.d/nft-offload"]
    assert modules_d == b"nf_flow_table_inet\nnft_flow_offload\n"


def test_every_module_is_real_and_matches_the_kernel(built: BuildResult) -> None:
    count = 0
    for name, pkg in _ipks(built).items():
        for entry in pkg.entries:
            if entry.path.endswith(".ko"):
                info = read_modinfo(entry.data, f"{name}:{entry.path}")
                assert info.vermagic == built.tree.vermagic, entry.path
                assert PurePosixPath(entry.path).parent == PurePosixPath(
                    f"lib/modules/{built.tree.release}"
                )
                count += 1
    assert count >= 10


def _closure(name: str, depends: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(depends.get(current, []))
    return seen


def test_modinfo_depends_are_inside_the_declared_closure(built: BuildResult) -> None:
    pkgs = _ipks(built)
    depends: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for pkg in pkgs.values():
        items = parse_depends((pkg.meta.depends and ", ".join(pkg.meta.depends)) or "")
        depends[pkg.meta.name] = [alts[0].name for alts in items]
        for entry in pkg.entries:
            if entry.path.endswith(".ko"):
                owner[PurePosixPath(entry.path).stem] = pkg.meta.name
    for pkg in pkgs.values():
        reach = _closure(pkg.meta.name, depends)
        for entry in pkg.entries:
            if entry.path.endswith(".ko"):
                for dep in read_modinfo(entry.data, entry.path).depends:
                    assert owner.get(dep.replace("-", "_")) in reach, (pkg.meta.name, dep)


def test_opkg_feed_is_self_contained_and_signed(built: BuildResult) -> None:
    feed = built.out_dir / "ipk"
    stanzas = [dict(s) for s in opkg_feed.parse_packages((feed / "Packages").read_bytes(), "P")]
    (kernel_ipk,) = (built.out_dir / "kernel").glob("kernel_*.ipk")
    kernel = ipk.read_ipk(kernel_ipk.read_bytes(), kernel_ipk.name).meta
    versions = {s["Package"]: s["Version"] for s in stanzas} | {"kernel": kernel.version}
    assert "kernel" not in {s["Package"] for s in stanzas}
    assert len(stanzas) == len(built.packages)
    for stanza in stanzas:
        for alts in parse_depends(stanza.get("Depends", "")):
            dep = alts[0]
            assert dep.name in versions, (stanza["Package"], dep.name)
            if dep.op:
                assert dep.op == "=" and versions[dep.name] == dep.version
    assert (feed / "Packages.sig").is_file() and (feed / "Packages.gz").is_file()


def test_apk_feed_is_self_contained_and_signed(built: BuildResult) -> None:
    data = (built.out_dir / "apk" / "packages.adb").read_bytes()
    index = apk_index.read_index(data, "packages.adb")
    (kernel_apk,) = (built.out_dir / "kernel").glob("kernel-*.apk")
    kernel = apk.read_apk(kernel_apk.read_bytes(), kernel_apk.name)
    versions = {p.name: p.version for p in index.packages} | {"kernel": kernel.version}
    for pkg in index.packages:
        for item in pkg.depends:
            dep = parse_apk_dependency(item)
            assert dep.name in versions, (pkg.name, item)
            if dep.version:
                assert versions[dep.name] == dep.version
    from kmodkit.formats import apk_sign

    pems = list((built.out_dir / "keys").glob("*.pem"))
    keys = [apk_sign.load_public_key(p.read_bytes(), str(p)) for p in pems]
    assert apk_index.verify_index(data, keys).ok


def trusted_keys(built: BuildResult, directory: Path) -> Path:
    """The public keys the build signed with, outside the verified tree (as a CI would hold)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{built.keys.usign_key_id}.pub").write_text(built.keys.usign_public_text)
    (directory / f"{built.keys.apk_key_id}.pem").write_bytes(built.keys.apk_public_pem)
    return directory


def test_verify_passes_without_warnings(built: BuildResult, tmp_path: Path) -> None:
    from kmodkit.verify import VerifyOptions, verify_paths

    report = verify_paths(
        [built.out_dir],
        options=VerifyOptions(kernel=built.tree, keys=trusted_keys(built, tmp_path / "trusted")),
    )
    assert report.failed == 0 and report.warnings == 0, [r.one_line() for r in report.failures()]
    assert report.passed > 50
    shipped = verify_paths([built.out_dir], options=VerifyOptions(kernel=built.tree))
    signatures = [r for r in shipped.results if r.check_id == "feed.signature"]
    assert signatures and {r.status for r in signatures} == {"warn"}  # its own keys/ prove nothing


def test_build_report_lists_every_artifact(built: BuildResult) -> None:
    import hashlib

    report = json.loads((built.out_dir / "build-report.json").read_text())
    listed = {a["path"]: a["sha256"] for a in report["artifacts"]}
    on_disk = {
        p: hashlib.sha256(d).hexdigest()
        for p, d in _files(built.out_dir).items()
        if p != "build-report.json"
    }
    assert listed == on_disk
    origins = {m["origin"] for m in report["modules"].values()}
    assert "compiled" in origins
    assert report["kernel"]["vermagic_hash"] == built.tree.vermagic_hash


def test_second_build_redoes_nothing_and_is_byte_identical(
    built: BuildResult, tmp_path: Path
) -> None:
    again = build(BuildOptions(target="x86_64", out=tmp_path))
    assert again.compiled == 0
    assert again.repacked == 0
    assert _files(again.out_dir) == _files(built.out_dir)


def test_repacking_from_scratch_is_byte_identical(built: BuildResult, tmp_path: Path) -> None:
    """Without the pack cache every package is packed again, to the same bytes."""
    fresh = build(BuildOptions(target="x86_64", out=tmp_path, reuse_packs=False))
    assert fresh.repacked > 0
    assert _files(fresh.out_dir) == _files(built.out_dir)


def _invoke(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_invoke(*args, cwd=cwd, env=env)


def test_invoke_build_cli_prints_summary(built: BuildResult, tmp_path: Path) -> None:
    proc = _invoke("build", "--target", "x86_64", "--out", str(tmp_path / "dist"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kmod-nft-offload" in proc.stdout
    assert "passed, 0 failed" in proc.stdout
    assert any((tmp_path / "dist").rglob("packages.adb"))
    # not a terminal (a CI log): one line per stage with the time since the start
    stages = re.findall(r"^\[ *(\d+\.\d)s\] (.+)$", proc.stdout, re.M)
    names = [name for _, name in stages]
    assert names[0] == "building" and names[-1] == "done"
    assert {"obtaining modules", "packing", "indexing and signing", "verifying"} <= set(names)
    times = [float(t) for t, _ in stages]
    assert times == sorted(times)
    # the build's check count says what a standalone verify would leave out
    assert "a standalone verify without --kernel-dir" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nonsense/board"], "unknown target"),
        (["--release", "19.07"], "unknown release"),
        (["--target", "mediatek/mt7623"], "no distro kernel for 'arm'"),
        (["--package", "kmod-does-not-exist"], "unknown package"),
        (["--release", "23.05", "--format", "apk"], "not valid apk versions"),
    ],
)
def test_bad_input_is_one_line_and_leaves_dist_alone(
    built: BuildResult, tmp_path: Path, args: list[str], message: str
) -> None:
    dist = tmp_path / "dist"
    keep = dist / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("untouched")
    proc = _invoke("build", *args, "--out", str(dist), cwd=tmp_path)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert message in err.lower(), err
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in dist.rglob("*")) == ["keep.txt"]


def test_broken_kernel_tree_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "linux"
    broken.mkdir()
    (broken / "Makefile").write_text("# not a kernel\n")
    with pytest.raises(KernelTreeError) as err:
        build(BuildOptions(kernel_dir=broken, out=tmp_path / "dist"))
    assert str(broken) in str(err.value)
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").rglob("*.ipk"))


def test_missing_compiler_is_one_line_with_no_artifacts(tmp_path: Path) -> None:
    """A fresh cache forces compiling; with no gcc/make on PATH the build stops before dist/."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tar", "xz", "dpkg-query", "apt-get"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    env = os.environ | {"PATH": str(bin_dir), "KMODKIT_CACHE": str(tmp_path / "cache")}
    proc = _invoke("build", "--out", str(tmp_path / "dist"), cwd=tmp_path, env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "gcc" in proc.stderr or "make" in proc.stderr
    assert not any((tmp_path / "dist").rglob("*.ipk")) if (tmp_path / "dist").exists() else True


def test_wrong_engine_needs_sdk() -> None:
    with pytest.raises(UsageError):
        build(BuildOptions(engine="sdk-make", out=Path("/nonexistent")))


def test_invoke_verify_on_the_dist_tree(built: BuildResult, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    keys = trusted_keys(built, tmp_path / "trusted")
    proc = _invoke(
        "verify", str(built.out_dir), "--strict", "--keys", str(keys), "--junit", str(junit),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith(" passed, 0 failed"), last
    assert "<testsuite" in junit.read_text()


def _built_modules(built: BuildResult) -> dict[str, bytes]:
    """In-tree path -> bytes of every module the session build compiled."""
    report = json.loads((built.out_dir / "build-report.json").read_text())
    by_name = {
        PurePosixPath(e.path).name: e.data
        for pkg in _ipks(built).values()
        for e in pkg.entries
        if e.path.endswith(".ko")
    }
    return {
        rel: by_name[PurePosixPath(rel).name]
        for rel, info in report["modules"].items()
        if info["origin"] == "compiled"
    }


def test_compiled_modules_carry_no_build_path(built: BuildResult, kmodkit_cache: Path) -> None:
    """Every module of the chain was compiled under the cache; none of them says where."""
    modules = _built_modules(built)
    assert len(modules) >= 10
    for rel, data in modules.items():
        assert str(kmodkit_cache).encode() not in data, rel
        assert b".kmodkit-" not in data and b"kbuild" not in data, rel


def test_verify_rebuild_compares_two_real_builds(built: BuildResult, tmp_path: Path) -> None:
    """`invoke verify --rebuild`: two fresh builds (the second in a separate cache) compared
    byte for byte. A prepared kernel dir holding the session's modules keeps it cheap (no
    compile); tests/kernel/test_kbuild_repro.py compiles in two caches for real."""
    from kmodkit.cli.verify import verify

    kdir = standin_kernel.kernel_dir(tmp_path / "linux", built.tree, _built_modules(built))
    report_in = json.loads((built.out_dir / "build-report.json").read_text())
    builtin = [r for r, info in report_in["modules"].items() if info["origin"] == "builtin"]
    (kdir / "modules.builtin").write_text("".join(f"kernel/{r}\n" for r in builtin))
    report = tmp_path / "rebuild.json"
    status = verify(
        paths=[str(built.out_dir)],
        index=[],
        kernel_dir=str(kdir),
        sdk=None,
        release="24.10",  # a prepared 6.1 dir has no OpenWrt release of its own
        target="x86_64",
        keys=str(trusted_keys(built, tmp_path / "trusted")),
        json_out=str(report),
        junit_out=None,
        strict=True,
        rebuild=True,
    )
    checks = json.loads(report.read_text())["checks"]
    rebuild = [c for c in checks if c["id"] == "rebuild.reproducible"]
    assert status == 0
    assert [c["status"] for c in rebuild] == ["pass"]


# Small closures keep the from-scratch rebuilds cheap (verify --rebuild above does the whole
# chain): lib/ and crypto/ compiled again in a separate cache.
SMALL = "kmod-lib-crc32c"


def test_invoke_build_check_reproducible(built: BuildResult, tmp_path: Path) -> None:
    proc = _invoke(
        "build",
        "--check-reproducible",
        "--format",
        "ipk",
        "--package",
        SMALL,
        "--out",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "reproducible: two rebuilds are byte-identical" in proc.stdout


def test_check_reproducible_rebuilds_from_scratch_elsewhere(
    built: BuildResult, kmodkit_cache: Path, tmp_path: Path
) -> None:
    """The second build compiles and unpacks again in its own cache, although the session
    cache holds every module: a path or cache leaking into the bytes would show."""
    from kmodkit.pipeline.reproduce import check_reproducible

    said: list[str] = []
    options = BuildOptions(packages=(SMALL,), formats=("ipk",), out=tmp_path)
    assert check_reproducible(options, progress=said.append) == []
    start = next(n for n, m in enumerate(said) if m.startswith("rebuilding from scratch"))
    scratch = Path(said[start].rsplit(": ", 1)[1])
    assert not scratch.is_relative_to(kmodkit_cache) and not scratch.exists()
    second = said[start:]
    assert any(m.startswith("compiling lib") for m in second)
    assert any(m.startswith("unpacking") for m in second)
    assert os.environ["KMODKIT_CACHE"] == str(kmodkit_cache)  # restored
