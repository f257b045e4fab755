"""Plain data of a verification run: check ids, results, options and the report.

Every finding names a stable check id, the artifact it concerns and one line saying what is
wrong (or what was proven); the report aggregates them into one result per (artifact, check),
which is what the table, the JSON and the JUnit writers show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from kmodkit.limits import MAX_MESSAGES_PER_RESULT

if TYPE_CHECKING:
    from kmodkit.kernel.tree import KernelTree

Status = Literal["pass", "warn", "fail"]

_RANK: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}

# The stable check ids and what each one proves (shown by --json and in the docs).
CHECKS: dict[str, str] = {
    "input.unreadable": "the input path exists and can be read",
    "input.secret-key": "the --keys directory holds public keys only (secret keys are refused)",
    "ipk.container.outer": "the ipk is a gzip'd tar holding debian-binary, data and control",
    "ipk.container.member-order": "outer members: ./debian-binary, ./data.tar.gz, ./control.tar.gz",
    "ipk.container.tar-format": "GNU/ustar tars (no PAX), owner 0/0, sorted, one mtime",
    "ipk.container.gzip": "every gzip stream has no file name and mtime 0 (gzip -n)",
    "apk.container.blocks": "ADB block first, then SIG blocks, then DATA blocks, 8-byte aligned",
    "apk.container.schema": "the package ADB decodes with the package schema",
    "apk.data-hash": "DATA blocks match the ADB file list, sizes and sha256 hashes",
    "apk.unique-id": "the package unique id is the hash of its ADB block",
    "container.unsafe-path": "no member path is absolute, has '..' or a control character",
    "container.escaping-link": "no symlink leaves the root; nothing is written through one",
    "container.hardlink": "no hard links (one to an earlier file of the package only warns)",
    "container.duplicate": "no member path is stored twice",
    "container.special-file": "no device nodes, FIFOs or unknown file types",
    "container.setuid": "no setuid or setgid files",
    "meta.fields": "required control fields are present and well-formed",
    "meta.name": "the file name agrees with name, version and arch",
    "meta.version": "the version is valid for the package manager",
    "meta.arch": "the architecture agrees with --target and the rest of the feed",
    "meta.release": "the versioning scheme agrees with --release",
    "meta.installed-size": "Installed-Size / installed-size is exact",
    "meta.depends": "Depends parse with the package manager's grammar",
    "meta.source-date-epoch": "SourceDateEpoch is recorded",
    "meta.license": "a license is declared",
    "kernel.dependency": "the kernel dependency matches the kernel's version and vermagic hash",
    "kernel.vermagic": "every .ko carries the kernel's vermagic string",
    "kernel.module-path": "every .ko lives under /lib/modules/<kernel release>/",
    "kernel.consistency": "all packages agree on one kernel dependency and one vermagic",
    "modules.modinfo": "every .ko is an ELF relocatable object with a readable .modinfo",
    "modules.depends": "every modinfo depends= module is in the package, its closure or the kernel",
    "modules.elf-arch": "every .ko's ELF machine, class and byte order match the package arch",
    "modules.symbols": "undefined symbols are exported by the kernel or a module in the closure",
    "autoload.modules": "/etc/modules.d files name modules of the package or its closure",
    "autoload.order": "modules.d files load dependencies before their users",
    "feed.index": "the feed index parses",
    "feed.size": "each index entry's size equals its file's size",
    "feed.sha256": "each index entry's SHA256sum equals its file's hash",
    "feed.adb-hash": "each packages.adb entry's hash equals the package's ADB hash",
    "feed.entry": "each index entry agrees with the package's own metadata",
    "feed.missing": "each index entry's file exists",
    "feed.unindexed": "every package file of the feed is indexed",
    "feed.duplicate": "no name/version appears twice",
    "feed.deps": "every dependency resolves in the feed, the --index bases or the kernel",
    "feed.signature": "the index signature verifies with a trusted key",
    "feed.kernel-package": "the index offers no `kernel` package (openwrt/openwrt#16808)",
    "rebuild.reproducible": "two builds produce identical bytes",
    # invoke boottest (kmodkit.boottest): the feed in a real kernel under QEMU
    "boot.image": "the kernel image the feed targets was fetched, checked and extracted",
    "boot.identity": "before boot: the kernel dependency and every vermagic match the image",
    "boot.install": "every dependency of every package is in the feed (installed like a device)",
    "boot.kernel": "the guest booted that kernel (/proc/sys/kernel/osrelease) within --timeout",
    "boot.modules": "every module of the package loaded, in kmodloader's order",
    "boot.network": "two namespaces joined to the guest by veth pairs came up",
    "boot.ruleset": "nft accepted the ruleset and its control (the ruleset without flow add)",
    "boot.transfer": "a TCP and a UDP transfer through the guest's forward path completed",
    "boot.offload": "with flow add, the flows appeared [OFFLOAD] in /proc/net/nf_conntrack",
    "boot.control": "without flow add, the flows went through conntrack but were not offloaded",
}


class Result(NamedTuple):
    """One (artifact, check) outcome; ``message`` says what is wrong and where, in one line.

    A named tuple, not a frozen dataclass: a 5,000-package feed yields 70,000 of these.
    """

    check_id: str
    artifact: str
    status: Status
    message: str

    def one_line(self) -> str:
        return f"{self.artifact}: {self.check_id}: {self.message}"


@dataclass(frozen=True)
class VerifyOptions:
    """What the artifacts are verified against (all optional: missing ones narrow the checks).

    ``kernel`` is an already opened ``kmodkit.kernel.KernelTree`` (the build pipeline passes
    its own); ``kernel_dir``/``sdk`` are opened here. ``keys_dir`` is an alias of ``keys``.
    """

    index: tuple[str, ...] = ()
    kernel_dir: Path | None = None
    sdk: Path | None = None
    release: str | None = None
    target: str | None = None
    keys: Path | None = None
    kernel: KernelTree | None = None
    keys_dir: Path | None = None

    @property
    def trusted_keys_dir(self) -> Path | None:
        return self.keys or self.keys_dir


@dataclass
class VerifyReport:
    """All results of one run, ordered by artifact then check."""

    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.status == "pass")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status == "fail")

    @property
    def warnings(self) -> int:
        return sum(1 for r in self.results if r.status == "warn")

    @property
    def input_errors(self) -> list[Result]:
        """Inputs that could not be read at all (the CLI exits 2 for these)."""
        input_checks = ("input.unreadable", "input.secret-key")
        return [r for r in self.results if r.check_id in input_checks and r.status == "fail"]

    def ok(self, strict: bool = False) -> bool:
        return self.failed == 0 and not (strict and self.warnings)

    def failures(self, check_id: str | None = None) -> list[Result]:
        """Failed and warned results, optionally of one check id (handy in tests and CI logs)."""
        return [
            r
            for r in self.results
            if r.status != "pass" and (check_id is None or r.check_id == check_id)
        ]

    def by_artifact(self) -> dict[str, list[Result]]:
        grouped: dict[str, list[Result]] = {}
        for r in self.results:
            grouped.setdefault(r.artifact, []).append(r)
        return grouped


class Findings:
    """Collects raw findings; ``results()`` merges them into one Result per (artifact, check).

    A check calls ``ok`` when it proved something and ``fail``/``warn`` for each problem; the
    worst status wins and the messages of that status are joined (deduplicated, in order).
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], list[tuple[Status, str]]] = {}

    def add(self, check_id: str, artifact: str, status: Status, message: str) -> None:
        if check_id not in CHECKS:
            raise ValueError(f"unknown check id {check_id!r}")  # a programming error, not input
        key = (artifact, check_id)
        items = self._items.get(key)
        if items is None:
            self._items[key] = [(status, message)]
        else:
            items.append((status, message))

    def ok(self, check_id: str, artifact: str, message: str = "ok") -> None:
        self.add(check_id, artifact, "pass", message)

    def fail(self, check_id: str, artifact: str, message: str) -> None:
        self.add(check_id, artifact, "fail", message)

    def warn(self, check_id: str, artifact: str, message: str) -> None:
        self.add(check_id, artifact, "warn", message)

    def extend(self, other: Findings) -> None:
        for (artifact, check_id), items in other._items.items():
            self._items.setdefault((artifact, check_id), []).extend(items)

    def results(self) -> list[Result]:
        out: list[Result] = []
        append = out.append
        for (artifact, check_id), items in self._items.items():
            if len(items) == 1:
                status, message = items[0]
                append(Result(check_id, artifact, status, message))
                continue
            worst = max((s for s, _ in items), key=_RANK.__getitem__)
            messages = _unique(m for s, m in items if s == worst)
            if len(messages) > MAX_MESSAGES_PER_RESULT:  # 20,000 bad files: one readable line
                more = len(messages) - MAX_MESSAGES_PER_RESULT
                messages = [*messages[:MAX_MESSAGES_PER_RESULT], f"and {more} more"]
            out.append(Result(check_id, artifact, worst, "; ".join(messages)))
        return out


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
