"""The invoke tasks, shared by ``invoke`` in the checkout and the installed ``kmodkit`` command.

Each task only converts its options and calls a plain function of ``kmodkit.cli.<area>``
through :func:`kmodkit.cli.run` (the one place that turns errors into exit codes). The library
is imported lazily inside each task so ``kmodkit --help`` stays fast.

Adding a task: write ``def my_task(c: Context, ...)`` with ``@task(help=...)`` below (or in its
own ``kmodkit.cli.<area>_tasks`` module), then add one ``ns.add_task(...)`` /
``ns.add_collection(...)`` line at the bottom. Options that hold paths take one path each
(``iterable=[...]`` for several), never a separator-joined list, so paths with spaces work.
"""

from __future__ import annotations

import copy

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from kmodkit.cli import run
from kmodkit.cli.boottest_tasks import boottest
from kmodkit.cli.sdk_tasks import sdk_collection

HELP_FLAGS = ("-h", "--help")


def split_commas(value: str | None) -> list[str]:
    """Several values in one option, separated by commas (white space stays part of a value)."""
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def print_task_help(name: str) -> None:
    """Per-task help, for ``invoke verify --help`` where invoke reads ``--help`` as the path."""
    from kmodkit.cli.program import program

    program().run(["kmodkit", "--help", name], exit=False)


@task(
    help={
        "release": "OpenWrt release (21.02 22.03 23.05 24.10 25.12 snapshot)",
        "target": "target/subtarget or package arch alias (x86_64, x86/64, x86-64)",
        "package": "root package of the closure (default kmod-nft-offload)",
        "flavour": "buildroot (FILES from $(LINUX_DIR)) or out-of-tree (Kbuild + M=)",
        "out": "output directory of the generated feed",
        "feed": "extra catalog directory of your own specs (comma-separated for several)",
    }
)
def generate(
    c: Context,
    release: str = "24.10",
    target: str = "x86_64",
    package: str = "kmod-nft-offload",
    flavour: str = "buildroot",
    out: str = "generated",
    feed: str = "",
) -> None:
    """Generate OpenWrt package Makefiles, Config.in, kernel config fragment and .config seed."""
    from kmodkit.cli import catalog

    run(
        catalog.generate,
        release=release,
        target=target,
        package=package,
        flavour=flavour,
        out=out,
        feeds=split_commas(feed),
    )


@task(
    help={
        "package": "root package (default kmod-nft-offload)",
        "release": "OpenWrt release",
        "target": "target (for target symbols)",
        "format": "tree, json, dot or mermaid",
        "feed": "extra catalog directory of your own specs (comma-separated for several)",
    }
)
def deps(
    c: Context,
    package: str = "kmod-nft-offload",
    release: str = "24.10",
    target: str = "x86_64",
    format: str = "tree",
    feed: str = "",
) -> None:
    """Show the dependency closure of a package (tree, json, dot or mermaid)."""
    from kmodkit.cli import catalog

    run(
        catalog.deps,
        package=package,
        release=release,
        target=target,
        fmt=format,
        feeds=split_commas(feed),
    )


@task(
    help={
        "target": "target (x86_64, x86/64, ramips/mt7621, ...)",
        "release": "OpenWrt release (24.10, 24.10.4); alone: build on its fetched SDK "
        "(default: the tree's; the distro kernel with the 24.10 scheme)",
        "sdk": "OpenWrt SDK: an extracted directory or a .tar.xz/.tar.zst (unpacked safely)",
        "kernel_dir": "prepared kernel build directory",
        "format": "ipk, apk or both (default: the release's; both for the distro kernel)",
        "engine": "direct (kmodkit packs) or sdk-make (drive the SDK's make)",
        "out": "output root (default dist/)",
        "key": "usign secret key for Packages.sig (default: a local build key in the cache)",
        "apk_key": "ECDSA P-256 PEM key for packages.adb (default: a local build key)",
        "jobs": "parallel compile jobs, a positive integer (default: number of cores)",
        "package": "root package (default kmod-nft-offload)",
        "feed": "extra catalog directory of your own specs (comma-separated for several)",
        "check_reproducible": "build twice into separate directories and compare bytes",
        "mirror": "with --release and no tree: SDK mirror URL (repeatable; see sdk.fetch)",
        "sdk_keys": "with --release and no tree: usign keys dir for the SDK (see sdk.fetch)",
        "offline": "with --release and no tree: use the cached SDK only",
        "allow_kernel_mismatch": "build although the tree's kernel series is not the release's",
        "boottest": "boot the feed under QEMU before publishing it (see `boottest`)",
    },
    iterable=["mirror"],
    # invoke would give --sdk-keys the short flag "-" once s, d and k are taken: long flags only
    auto_shortflags=False,
)
def build(
    c: Context,
    target: str = "x86_64",
    release: str = "",
    sdk: str = "",
    kernel_dir: str = "",
    format: str = "",
    engine: str = "direct",
    out: str = "dist",
    key: str = "",
    apk_key: str = "",
    jobs: str = "",
    package: str = "kmod-nft-offload",
    feed: str = "",
    check_reproducible: bool = False,
    mirror: list[str] | None = None,
    sdk_keys: str = "",
    offline: bool = False,
    allow_kernel_mismatch: bool = False,
    boottest: bool = False,
) -> None:
    """Build, pack, index, sign and verify the kmod feed for a target.

    With --release and no --sdk/--kernel-dir, builds on that release's OpenWrt SDK (cached, or
    fetched and verified like sdk.fetch); with neither, on the distribution's kernel.
    """
    from kmodkit.cli import build as build_cli

    run(
        build_cli.build,
        target=target,
        release=release or None,
        sdk=sdk or None,
        kernel_dir=kernel_dir or None,
        fmt=format or None,
        engine=engine,
        out=out,
        key=key or None,
        apk_key=apk_key or None,
        jobs=jobs or None,
        package=package,
        feeds=split_commas(feed),
        check_reproducible=check_reproducible,
        mirrors=list(mirror or []),
        sdk_keys=sdk_keys or None,
        offline=offline,
        allow_kernel_mismatch=allow_kernel_mismatch,
        boottest=boottest,
    )


@task(
    positional=["paths"],
    iterable=["path", "index"],
    help={
        "paths": "an .ipk, .apk, feed directory or dist/ tree to verify",
        "path": "one more artifact to verify (repeat for several)",
        "index": "a base feed (dir or URL) dependencies may resolve against (repeatable)",
        "kernel_dir": "kernel build dir the modules must match",
        "sdk": "extracted OpenWrt SDK the modules must match",
        "release": "expected OpenWrt release",
        "target": "expected target",
        "keys": "directory of trusted usign / apk public keys",
        "json": "write a JSON report here",
        "junit": "write a JUnit XML report here",
        "strict": "warnings fail too",
        "rebuild": "rebuild twice and report artifacts whose bytes differ",
    },
)
def verify(
    c: Context,
    paths: str,
    path: list[str] | None = None,
    index: list[str] | None = None,
    kernel_dir: str = "",
    sdk: str = "",
    release: str = "",
    target: str = "",
    keys: str = "",
    json: str = "",
    junit: str = "",
    strict: bool = False,
    rebuild: bool = False,
) -> None:
    """Verify packages and feeds: structure, metadata, kernel ABI, module deps, signatures.

    kmodkit verify PATH [PATH...]   or   invoke verify PATH [--path PATH ...]
    """
    if paths in HELP_FLAGS:
        print_task_help("verify")
        return
    from kmodkit.cli import verify as verify_cli

    run(
        verify_cli.verify,
        paths=[paths, *(path or [])],
        index=list(index or []),
        kernel_dir=kernel_dir or None,
        sdk=sdk or None,
        release=release or None,
        target=target or None,
        keys=keys or None,
        json_out=json or None,
        junit_out=junit or None,
        strict=strict,
        rebuild=rebuild,
    )


@task(
    name="generate",
    help={
        "out": "directory for the key files (default keys/)",
        "name": "base name of the key files",
        "comment": "usign untrusted comment",
    },
)
def keys_generate(c: Context, out: str = "keys", name: str = "kmodkit", comment: str = "") -> None:
    """Write a usign (Ed25519) and an apk (ECDSA P-256) key pair; never overwrites."""
    from kmodkit.cli import keys as keys_cli

    run(keys_cli.generate, out=out, name=name, comment=comment or None)


keys = Collection("keys")
keys.add_task(keys_generate)

ns = Collection()
ns.add_task(generate)
ns.add_task(deps)
ns.add_task(build)
ns.add_task(verify)
ns.add_task(boottest)
ns.add_collection(keys)

from kmodkit.cli.catalog_tasks import catalog  # noqa: E402  (own module, see its docstring)

ns.add_collection(catalog)
ns.add_collection(sdk_collection)

from kmodkit.cli.release_tasks import bench, matrix, release  # noqa: E402  (own module)

ns.add_collection(release)
ns.add_task(matrix)
ns.add_task(bench)

# invoke pops each option's help text from its task while it builds parser contexts, so whoever
# parses ``ns`` first (invoke in the checkout, a test) leaves it without help. Programs and
# per-task help start from copies of this untouched snapshot instead.
_PRISTINE = copy.deepcopy(ns)


def fresh_namespace() -> Collection:
    """A copy of ``ns`` that still has every help text."""
    return copy.deepcopy(_PRISTINE)
