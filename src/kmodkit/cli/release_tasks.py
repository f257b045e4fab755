"""The ``release`` collection (``release``, ``release.merge``), ``matrix`` and ``bench``."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from kmodkit.cli import run


@task(
    name="release",
    iterable=["mirror"],
    help={
        "targets": "targets, comma-separated (x86/64,armsr/armv8,ramips/mt7621,ath79/generic)",
        "releases": "OpenWrt releases, comma-separated (default: the distro kernel's own name)",
        "kernel": "distro (Debian's kernel, cross-built for foreign targets) or sdk",
        "jobs": "pairs built in parallel (default: cores, bounded by memory)",
        "shard": "I/N: build only the I-th of N deterministic shards (see matrix)",
        "out": "release tree directory (default release/)",
        "key": "usign secret key (Packages.sig, sha256sums.sig; default: local build key)",
        "apk_key": "ECDSA P-256 PEM key for packages.adb (default: local build key)",
        "mirror": "with --kernel sdk: SDK mirror URL (repeatable; see sdk.fetch)",
        "sdk_keys": "with --kernel sdk: usign keys dir for the SDK (see sdk.fetch)",
        "offline": "with --kernel sdk: use cached SDKs only",
        "boottest": "boot every target's feed under QEMU before publishing (see boottest)",
    },
)
def release_(
    c: Context,
    targets: str = "",
    releases: str = "",
    kernel: str = "distro",
    jobs: str = "",
    shard: str = "",
    out: str = "release",
    key: str = "",
    apk_key: str = "",
    mirror: list[str] | None = None,
    sdk_keys: str = "",
    offline: bool = False,
    boottest: bool = False,
) -> None:
    """Build every (release, target) pair in parallel into the official download layout."""
    from kmodkit.cli import release as release_cli
    from kmodkit.cli.build import parse_jobs

    run(
        lambda: release_cli.release(
            targets=targets,
            releases=releases,
            kernel=kernel,
            jobs=parse_jobs(jobs),
            shard=shard or None,
            out=out,
            key=key or None,
            apk_key=apk_key or None,
            mirrors=list(mirror or []),
            sdk_keys=sdk_keys or None,
            offline=offline,
            boottest=boottest,
        )
    )


@task(
    name="merge",
    positional=["shards"],
    iterable=["shard"],
    help={
        "shards": "a shard output directory (the first one)",
        "shard": "one more shard directory (repeatable)",
        "out": "merged release tree (default release/)",
        "keys": "trusted public keys to verify with (default: the keys shipped in the shards)",
    },
)
def merge(
    c: Context, shards: str, shard: list[str] | None = None, out: str = "release", keys: str = ""
) -> None:
    """Merge shard trees into one tree, byte-identical to a single run; verify it."""
    from kmodkit.cli import release as release_cli

    extra = [s for item in shard or [] for s in item.split(",") if s]
    first = [s for s in shards.split(",") if s]
    run(release_cli.merge, shards=[*first, *extra], out=out, keys=keys or None)


@task(
    help={
        "targets": "targets, comma-separated",
        "releases": "OpenWrt releases, comma-separated (default: the distro kernel)",
        "shards": "number of shards (jobs) to split the pairs into",
    }
)
def matrix(c: Context, targets: str = "", releases: str = "", shards: int = 1) -> None:
    """Print a GitHub Actions strategy.matrix JSON with one entry per shard."""
    from kmodkit.cli import release as release_cli

    run(release_cli.matrix, targets=targets, releases=releases, shards=shards)


release = Collection("release")
release.add_task(release_, default=True)
release.add_task(merge)


@task(
    iterable=["only"],
    help={
        "only": "run only this script (bench_NAME.py or NAME; repeatable)",
        "dir": "directory of bench_*.py scripts (default: ./bench of the checkout)",
        "timeout": "seconds one script may take (default 1800)",
    },
)
def bench(c: Context, only: list[str] | None = None, dir: str = "", timeout: int = 1800) -> None:
    """Run every bench/ script and print one table of their ratios."""
    from kmodkit.cli import bench as bench_cli

    run(bench_cli.bench, directory=dir or None, only=list(only or []), timeout=float(timeout))
