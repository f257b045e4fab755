"""HTTP for SDK fetching: streamed, resumable, retried, falling back across mirrors.

requests honours the proxy (``HTTP(S)_PROXY``, ``NO_PROXY``) and CA (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) variables itself; ``SSL_CERT_FILE`` is honoured too. A connect timeout
and a stall timeout (no byte for that long) bound every request; 5xx answers and connection
errors are retried with exponential backoff, then the next mirror is tried. Large files
land in a ``.part`` file that a later attempt (or run) resumes with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3.exceptions

from kmodkit import __version__
from kmodkit.errors import FetchError
from kmodkit.fsutil import atomic_write_bytes

# (file name, bytes so far, total bytes or None)
ByteProgress = Callable[[str, int, int | None], None]
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    OSError,
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 15.0
    stall_timeout: float = 60.0
    attempts: int = 4
    backoff: float = 1.0  # first pause in seconds, doubled after each failed attempt
    chunk_size: int = 1 << 20


class NotFound(FetchError):
    """Every mirror answered 404 for this path."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, where=url)
        self.url = url


class _Transient(Exception):
    """Worth another attempt: a 5xx answer, a cut body, a stall."""


class _Missing(Exception):
    pass


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str
    not_modified: bool  # answered 304: ``data`` is the cached copy


def _session() -> requests.Session:
    session = requests.Session()  # trust_env: proxies and CA bundles from the environment
    session.headers["User-Agent"] = f"kmodkit/{__version__}"
    ca_file = os.environ.get("SSL_CERT_FILE")
    if ca_file and not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")):
        session.verify = ca_file
    return session


class Client:
    """Fetches paths relative to a list of mirrors, tried in order."""

    def __init__(
        self,
        mirrors: Sequence[str],
        settings: HttpSettings | None = None,
        *,
        http_cache: Path | None = None,
        on_bytes: ByteProgress | None = None,
    ) -> None:
        self.mirrors = [m.rstrip("/") for m in mirrors]
        self.settings = settings or HttpSettings()
        self.http_cache = http_cache
        self.on_bytes = on_bytes
        self.session = _session()
        self.requests_made: list[str] = []  # "GET url [Range ...]" for the record

    def close(self) -> None:
        self.session.close()

    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.stall_timeout)

    def _over_mirrors(self, path: str, attempt: Callable[[str], object]) -> tuple[object, str]:
        """Run ``attempt(url)`` per mirror with retries; 404 and errors move to the next."""
        causes: list[str] = []
        missing: list[str] = []
        for mirror in self.mirrors:
            url = f"{mirror}/{path}"
            pause = self.settings.backoff
            for number in range(1, self.settings.attempts + 1):
                try:
                    return attempt(url), url
                except _Missing:
                    missing.append(url)
                    break
                except (_Transient, *_TRANSIENT) as exc:
                    cause = str(exc) or type(exc).__name__
                    if number == self.settings.attempts:
                        causes.append(f"{url}: {cause} ({number} attempts)")
                        break
                    time.sleep(pause)
                    pause *= 2
        if missing and not causes:
            raise NotFound("not found (HTTP 404)", url=missing[0])
        raise FetchError("download failed: " + "; ".join(causes + [f"{u}: 404" for u in missing]))

    def _cache_paths(self, url: str) -> tuple[Path, Path] | None:
        if self.http_cache is None:
            return None
        key = hashlib.sha256(url.encode()).hexdigest()[:32]
        return self.http_cache / f"{key}.body", self.http_cache / f"{key}.json"

    def get_small(self, path: str, *, conditional: bool = True) -> Fetched:
        """A small file in memory; with a cached copy, a conditional (ETag/date) request."""

        def attempt(url: str) -> Fetched:
            headers: dict[str, str] = {}
            cached = self._cache_paths(url) if conditional else None
            if cached and cached[0].is_file() and cached[1].is_file():
                meta = json.loads(cached[1].read_text())
                if meta.get("etag"):
                    headers["If-None-Match"] = meta["etag"]
                if meta.get("last_modified"):
                    headers["If-Modified-Since"] = meta["last_modified"]
            self.requests_made.append(f"GET {url}")
            resp = self.session.get(url, headers=headers, timeout=self._timeout())
            with resp:
                if resp.status_code == 304 and cached and headers:
                    return Fetched(cached[0].read_bytes(), url, True)
                _raise_for(resp, url)
                data = resp.content
                if cached is not None:
                    meta = {
                        "etag": resp.headers.get("ETag"),
                        "last_modified": resp.headers.get("Last-Modified"),
                    }
                    atomic_write_bytes(cached[0], data)
                    atomic_write_bytes(cached[1], json.dumps(meta).encode())
                return Fetched(data, url, False)

        result, _ = self._over_mirrors(path, attempt)
        assert isinstance(result, Fetched)
        return result

    def download(self, path: str, part: Path) -> str:
        """Stream ``path`` into ``part``, resuming what it holds; return the URL it came from."""
        part.parent.mkdir(parents=True, exist_ok=True)
        name = path.rsplit("/", 1)[-1]
        _, url = self._over_mirrors(path, lambda u: self._download_once(u, part, name))
        return url

    def _download_once(self, url: str, part: Path, name: str) -> None:
        have = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        self.requests_made.append(f"GET {url}" + (f" Range {headers['Range']}" if have else ""))
        resp = self.session.get(url, headers=headers, stream=True, timeout=self._timeout())
        with resp:
            if resp.status_code == 416 and have:
                return  # nothing left to send: the sha256 check decides
            _raise_for(resp, url)
            total: int | None
            if resp.status_code == 206:
                match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != have:
                    part.unlink(missing_ok=True)
                    raise _Transient(
                        f"unexpected Content-Range {resp.headers.get('Content-Range')}"
                    )
                total = int(match.group(3)) if match.group(3) != "*" else None
                mode = "ab"
            else:  # 200: the whole file (a server without Range support restarts it)
                have = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            self._stream(resp, part, mode, have, total, name)

    def _stream(
        self,
        resp: requests.Response,
        part: Path,
        mode: str,
        have: int,
        total: int | None,
        name: str,
    ) -> None:
        report = self.on_bytes
        size = self.settings.chunk_size
        read = resp.raw.read
        done = have
        with open(part, mode) as fh:
            write = fh.write
            while True:
                chunk = read(size, decode_content=False)
                if not chunk:
                    break
                write(chunk)
                done += len(chunk)
                if report is not None:
                    report(name, done, total)
        if total is not None and done != total:
            raise _Transient(f"body cut at byte {done} of {total}")


def _raise_for(resp: requests.Response, url: str) -> None:
    if resp.status_code == 404:
        raise _Missing(url)
    if resp.status_code >= 500 or resp.status_code == 429:
        raise _Transient(f"HTTP {resp.status_code} {resp.reason}")
    if resp.status_code >= 400:
        raise FetchError(f"HTTP {resp.status_code} {resp.reason}", where=url)
