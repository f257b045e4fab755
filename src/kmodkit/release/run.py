"""`invoke release`: build every pair in parallel processes, lay the tree out, verify, publish.

Each pair is one ``pipeline.build`` in its own process (bounded by cores and memory), sharing
the cache and its locks: a cross tree is prepared once even when several pairs need it, and
modules compiled for one pair are reused by the next. A failing pair is reported and left
out; the others are still published. The whole tree is verified before it replaces ``out``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmodkit import resources
from kmodkit.errors import BuildError, KmodkitError, UsageError
from kmodkit.fsutil import atomic_directory, atomic_write_bytes, temp_directory
from kmodkit.pipeline.keys import BuildKeys, load_or_create_keys, trusted_public_keys
from kmodkit.release.layout import INDEX, index_document, key_summary, place_result
from kmodkit.release.plan import Pair, parse_pairs, parse_shard, shard_pairs

Event = Callable[[str, str], None]  # (pair label, message)
GIB = 1 << 30
MEMORY_PER_PAIR = 2 * GIB  # a Kbuild of the chain peaks well below this


@dataclass(frozen=True)
class ReleaseOptions:
    targets: tuple[str, ...]
    releases: tuple[str, ...] = ()
    kernel: str = "distro"  # or "sdk": each release's OpenWrt SDK (cached, else fetched)
    mirrors: tuple[str, ...] = ()
    sdk_keys: Path | None = None
    offline: bool = False
    jobs: int | None = None  # parallel pairs (default: cores, bounded by memory)
    shard: str | None = None
    out: Path = Path("release")
    usign_key: Path | None = None
    apk_key: Path | None = None
    boottest: bool = False  # boot every target's feed under QEMU before publishing


@dataclass
class PairOutcome:
    pair: Pair
    ok: bool
    message: str = ""
    record: dict[str, Any] | None = None
    seconds: float = 0.0
    compiled: int = 0
    packages: int = 0


@dataclass
class ReleaseResult:
    out: Path
    pairs: list[Pair]
    outcomes: list[PairOutcome] = field(default_factory=list)
    verify_summary: str = ""
    boottest_summary: str = ""
    published: bool = False
    log: Path | None = None

    @property
    def failed(self) -> list[PairOutcome]:
        return [o for o in self.outcomes if not o.ok]


def select_pairs(options: ReleaseOptions) -> list[Pair]:
    pairs = parse_pairs(options.targets, options.releases)
    shard = parse_shard(options.shard)
    if shard is not None:
        pairs = shard_pairs(pairs, *shard)
    return pairs


def worker_count(requested: int | None, pairs: int) -> int:
    """Parallel pairs: the request, else the cores; never more than memory allows."""
    cores = os.cpu_count() or 1
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        by_memory = max(1, pages // MEMORY_PER_PAIR)
    except (OSError, ValueError):
        by_memory = cores
    return max(1, min(requested or cores, by_memory, pairs))


def release(options: ReleaseOptions, on_event: Event | None = None) -> ReleaseResult:
    if options.kernel not in ("distro", "sdk"):
        raise UsageError(f"--kernel must be distro or sdk, not {options.kernel!r}")
    pairs = select_pairs(options)
    if options.kernel == "sdk" and any(p.release is None for p in pairs):
        raise UsageError("--kernel sdk needs --releases (the SDK of which release?)")
    cache = resources.cache_dir()
    keys = load_or_create_keys(cache, options.usign_key, options.apk_key)  # once, before forking
    log = cache / "logs" / "release.log"
    result = ReleaseResult(out=options.out, pairs=pairs, log=log)
    say = _logger(log, on_event)
    if not pairs:
        raise UsageError(f"shard {options.shard} holds no pair")
    workers = worker_count(options.jobs, len(pairs))
    # every pair may use every core: pairs finish at different times and a lone last pair
    # would otherwise leave cores idle (bench_release: -j cores/pairs was 0.85x sequential)
    make_jobs = os.cpu_count() or 1
    try:
        with (
            atomic_directory(options.out) as tree,
            temp_directory(cache / "staging", "release") as staging,
        ):
            result.outcomes = _run_pairs(pairs, options, tree, staging, workers, make_jobs, say)
            records = [o.record for o in result.outcomes if o.ok and o.record]
            if not records:
                raise _NothingToPublish()
            atomic_write_bytes(tree / INDEX, index_document(records, key_summary(keys)))
            say("release", "verifying the whole tree")
            result.verify_summary = verify_tree(tree, keys)
            if options.boottest:
                from kmodkit.boottest.gate import boottest_gate, gate_summary

                say("release", "boot test of every target")
                boot = boottest_gate(
                    tree,
                    label=None,
                    logs=log.parent / "release",
                    progress=lambda m: say("release", m),
                )
                result.boottest_summary = gate_summary(boot)
        result.published = True
    except _NothingToPublish:
        result.published = False
    return result


class _NothingToPublish(Exception):
    """Every pair failed: leave ``out`` as it was."""


def verify_tree(tree: Path, keys: BuildKeys) -> str:
    """`invoke verify` strictly on the complete tree; any failure or warning stops publishing.

    It trusts the public halves of the signing keys, written outside the tree (the copies in
    ``keys/`` are what a reader of the tree would have to trust).
    """
    from kmodkit.verify import VerifyOptions, verify_paths

    with trusted_public_keys(keys) as trusted:
        report = verify_paths([tree], options=VerifyOptions(keys=trusted))
    if not report.ok(strict=True):
        first = report.failures()[0].one_line()
        raise BuildError(
            f"verify failed on the release tree ({report.failed} failed, "
            f"{report.warnings} warnings): {first}"
        )
    return f"{report.passed} passed, {report.failed} failed"


def _logger(log: Path, on_event: Event | None) -> Event:
    log.parent.mkdir(parents=True, exist_ok=True)

    def say(label: str, message: str) -> None:
        with log.open("a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} [{os.getpid()}] {label}: {message}\n")
        if on_event:
            on_event(label, message)

    return say


def _run_pairs(
    pairs: list[Pair],
    options: ReleaseOptions,
    tree: Path,
    staging: Path,
    workers: int,
    make_jobs: int,
    say: Event,
) -> list[PairOutcome]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        events: Any = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures: dict[Future[PairOutcome], Pair] = {}
            for index, pair in enumerate(pairs):
                say(pair.label, "queued")
                job = pool.submit(
                    build_pair, pair, options, tree, staging / str(index), make_jobs, events
                )
                futures[job] = pair
            pending = set(futures)
            while pending:
                _drain(events, say, timeout=0.2)
                pending = {f for f in pending if not f.done()}
            _drain(events, say, timeout=0)
            outcomes = [_outcome(f, futures[f]) for f in futures]
    for outcome in outcomes:
        say(outcome.pair.label, "done" if outcome.ok else f"FAILED: {outcome.message}")
    return sorted(outcomes, key=lambda o: o.pair.key)


def _drain(events: Any, say: Event, timeout: float) -> None:
    try:
        label, message = events.get(timeout=timeout) if timeout else events.get_nowait()
        say(label, message)
        while True:
            label, message = events.get_nowait()
            say(label, message)
    except queue.Empty:
        return


def _outcome(future: Future[PairOutcome], pair: Pair) -> PairOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return PairOutcome(pair, False, "the worker process died (out of memory or killed?)")


def build_pair(
    pair: Pair,
    options: ReleaseOptions,
    tree: Path,
    staging: Path,
    make_jobs: int,
    events: Any,
) -> PairOutcome:
    """One pair, in a worker process: build into staging, then place it in the tree."""
    from kmodkit.pipeline.build import BuildOptions, build

    start = time.monotonic()

    def progress(message: str) -> None:
        events.put((pair.label, message))

    try:
        sdk, release, series = None, pair.release, None
        if options.kernel == "sdk" and pair.release is not None:
            sdk, release = _fetch_sdk(pair, options, progress)
        elif pair.release is not None:
            series = distro_series_for(pair)
        result = build(
            BuildOptions(
                target=pair.target,
                release=release,
                sdk=sdk,
                # distro kernel + a release name: that release's scheme on the distro kernel
                allow_kernel_mismatch=options.kernel == "distro" and series is None,
                distro_series=series,
                out=staging,
                usign_key=options.usign_key,
                apk_key=options.apk_key,
                jobs=make_jobs,
            ),
            progress=progress,
        )
        ver = result.out_dir.relative_to(staging).parts[0]
        keys = load_or_create_keys(resources.cache_dir(), options.usign_key, options.apk_key)
        progress("placing into the release tree")
        record = place_result(result, ver, tree, keys)
    except KmodkitError as exc:
        return PairOutcome(pair, False, str(exc), seconds=time.monotonic() - start)
    except Exception as exc:  # one broken pair must not take the others down
        message = f"{exc.__class__.__name__}: {exc}"
        return PairOutcome(pair, False, message, seconds=time.monotonic() - start)
    return PairOutcome(
        pair,
        True,
        record=record,
        seconds=time.monotonic() - start,
        compiled=result.compiled,
        packages=len(result.packages),
    )


def _fetch_sdk(
    pair: Pair, options: ReleaseOptions, progress: Callable[[str], None]
) -> tuple[Path, str]:
    """The release's SDK for the pair (kmodkit.sdk: cached, else fetched and verified)."""
    from kmodkit.sdk import FetchOptions, sdk_for_release

    assert pair.release is not None
    return sdk_for_release(
        FetchOptions(
            release=pair.release,
            target=pair.target,
            mirrors=options.mirrors,
            keys_dir=options.sdk_keys,
            offline=options.offline,
        ),
        say=progress,
    )


def distro_series_for(pair: Pair) -> str | None:
    """The distro kernel of the release's own series when Debian offers it (25.12 -> 6.12 on
    x86/64); otherwise None: the default distro kernel with the release's scheme."""
    from kmodkit.catalog import lookup_release, lookup_target
    from kmodkit.kernel.distro_series import EXTRA_SERIES

    assert pair.release is not None
    target = lookup_target(pair.target)
    series = lookup_release(pair.release).kernel_series_for(target)
    native = target.pkg_arch == "x86_64"
    return series if native and series in EXTRA_SERIES else None
