"""The ``boottest`` task (added to the collection in kmodkit.cli.tasks)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from kmodkit.cli import run


@task(
    iterable=["path"],
    help={
        "path": "a built feed: dist/<kernel>/<board>/<subtarget> or a tree of them "
        "(default: the last `invoke build` output for --target; repeatable)",
        "target": "target whose last build to test when no path is given (default x86_64)",
        "kernel_image": "boot this kernel instead (a linux-image .deb or a bzImage)",
        "timeout": "seconds before the guest is killed (default 300)",
        "keep_logs": "copy the serial log, /init and the initramfs to this directory",
        "json": "write a JSON report here",
        "junit": "write a JUnit XML report here",
        "ruleset": "your nft ruleset (devices lan and wan, a `flow add @ft` statement)",
        "release": "boot the official OpenWrt image of this release for --target (needs the "
        "internet; image verified like the SDK) and install the feed with its opkg/apk",
    },
)
def boottest(
    c: Context,
    path: list[str] | None = None,
    target: str = "x86_64",
    kernel_image: str = "",
    timeout: float = 300.0,
    keep_logs: str = "",
    json: str = "",
    junit: str = "",
    ruleset: str = "",
    release: str = "",
) -> None:
    """Boot the feed's own kernel under QEMU: modules load, flows get [OFFLOAD]ed.

    kmodkit boottest [PATH]   or   invoke boottest [--path PATH]
    kmodkit boottest --release 24.10 --target x86/64 [PATH]   (the official OpenWrt image)
    """
    from kmodkit.cli import boottest as boottest_cli

    run(
        boottest_cli.boottest,
        paths=list(path or []),
        target=target,
        kernel_image=kernel_image or None,
        timeout=float(timeout),
        keep_logs=keep_logs or None,
        json_out=json or None,
        junit_out=junit or None,
        ruleset=ruleset or None,
        release=release or None,
    )
