"""The ``sdk`` task collection: ``sdk.fetch``, ``sdk.list``, ``sdk.clean`` (see kmodkit.cli.sdk)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from kmodkit.cli import run

MIRROR_HELP = (
    "mirror base URL (repeatable, tried in order; default $KMODKIT_MIRROR or downloads.openwrt.org)"
)


@task(
    name="fetch",
    iterable=["mirror"],
    help={
        "release": "exact release (24.10.4), series (24.10: its newest point release) or snapshot",
        "target": "target/subtarget or alias (x86/64, x86_64, ramips/mt7621)",
        "mirror": MIRROR_HELP,
        "keys": "directory of usign public keys named by key id, replacing the pinned ones",
        "offline": "no network: use the cached SDK or fail",
    },
)
def sdk_fetch(
    c: Context,
    release: str,
    target: str,
    mirror: list[str] | None = None,
    keys: str = "",
    offline: bool = False,
) -> None:
    """Fetch, verify and unpack a release's OpenWrt SDK into the cache; print its path."""
    from kmodkit.cli import sdk

    run(
        sdk.fetch,
        release=release,
        target=target,
        mirrors=list(mirror or []),
        keys=keys or None,
        offline=offline,
    )


@task(
    name="list",
    iterable=["mirror"],
    help={
        "release": "list this release's targets (default: list the releases)",
        "mirror": MIRROR_HELP,
        "offline": "list the SDKs in the cache instead",
    },
)
def sdk_list(
    c: Context, release: str = "", mirror: list[str] | None = None, offline: bool = False
) -> None:
    """Releases and targets the mirror knows, or with --offline the cached SDKs."""
    from kmodkit.cli import sdk

    run(sdk.list_, release=release or None, mirrors=list(mirror or []), offline=offline)


@task(name="clean", help={"keep": "SDKs to keep per release and target, newest first (default 1)"})
def sdk_clean(c: Context, keep: int = 1) -> None:
    """Prune the SDK cache: older SDKs, leftovers of interrupted fetches."""
    from kmodkit.cli import sdk

    run(sdk.clean, keep=keep)


sdk_collection = Collection("sdk")
sdk_collection.add_task(sdk_fetch)
sdk_collection.add_task(sdk_list)
sdk_collection.add_task(sdk_clean)
