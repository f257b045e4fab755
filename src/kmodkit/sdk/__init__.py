"""OpenWrt SDKs from a mirror with the downloads.openwrt.org layout: fetch, verify, cache.

``fetch_sdk`` resolves a release and target to a verified, unpacked SDK in the cache;
``unpack_local_sdk`` does the same for a tarball given to ``--sdk``; ``list_sdks`` and
``cache.clean`` back ``sdk.list`` and ``sdk.clean``.
"""

from __future__ import annotations

from kmodkit.sdk.download import HttpSettings
from kmodkit.sdk.fetch import (
    FetchOptions,
    FetchResult,
    fetch_sdk,
    sdk_for_release,
    unpack_local_sdk,
)
from kmodkit.sdk.listing import Listing, list_sdks

__all__ = [
    "FetchOptions",
    "FetchResult",
    "HttpSettings",
    "Listing",
    "fetch_sdk",
    "list_sdks",
    "sdk_for_release",
    "unpack_local_sdk",
]
