"""Download a small file over HTTP(S) in bounded memory and bounded time.

``requests`` alone bounds neither: a timeout only limits each socket read, so a server that
drips one byte every few seconds never trips it, and ``response.content`` holds whatever size
the server sends. Here the body is capped (Content-Length checked first, then every chunk),
each read may stall at most ``stall`` seconds, and the whole download must end before a
deadline: it runs in a worker thread that the caller stops waiting for once the deadline has
passed, shutting its socket down so that the worker's blocked read ends too.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

import requests
import urllib3

from kmodkit.errors import FetchError
from kmodkit.limits import (
    HTTP_CONNECT_SECONDS,
    HTTP_DEADLINE_SECONDS,
    HTTP_MAX_BYTES,
    HTTP_STALL_SECONDS,
    exceeded,
    seconds_text,
)

CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one download session (defaults: kmodkit.limits; tests pass small ones)."""

    max_bytes: int = HTTP_MAX_BYTES
    connect_seconds: float = HTTP_CONNECT_SECONDS
    stall_seconds: float = HTTP_STALL_SECONDS
    deadline_seconds: float = HTTP_DEADLINE_SECONDS


@dataclass
class _Download:
    """Shared between the caller and the worker thread."""

    status: int | None = None
    body: bytes = b""
    error: str | None = None
    sock: socket.socket | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)


class Deadline:
    """A point in time several downloads share (every candidate URL of one --index base)."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.at = time.monotonic() + limits.deadline_seconds

    def left(self) -> float:
        return self.at - time.monotonic()


def get(url: str, deadline: Deadline) -> tuple[int, bytes]:
    """(HTTP status, body) of ``url``; FetchError naming the limit when one trips."""
    limits = deadline.limits
    too_late = (
        f"{url}: download did not finish within the HTTP_DEADLINE_SECONDS limit "
        f"({seconds_text(limits.deadline_seconds)})"
    )
    if deadline.left() <= 0:
        raise FetchError(too_late)
    state = _Download()
    worker = threading.Thread(
        target=_download, args=(url, limits, state), name="kmodkit-http", daemon=True
    )
    worker.start()
    worker.join(max(deadline.left(), 0))
    if worker.is_alive():
        state.cancelled.set()
        if state.sock is not None:  # not close(): that waits for the reader's buffer lock
            with contextlib.suppress(OSError):
                state.sock.shutdown(socket.SHUT_RDWR)
        raise FetchError(too_late)
    if state.error is not None:
        raise FetchError(f"{url}: {state.error}")
    assert state.status is not None
    return state.status, state.body


def _download(url: str, limits: HttpLimits, state: _Download) -> None:
    try:
        response = requests.get(
            url,
            stream=True,
            timeout=(limits.connect_seconds, limits.stall_seconds),
            headers={"Accept-Encoding": "identity"},  # no transparent gzip: bytes as counted
        )
    except requests.ConnectTimeout:
        state.error = (
            "no connection within the HTTP_CONNECT_SECONDS limit "
            f"({seconds_text(limits.connect_seconds)})"
        )
        return
    except requests.Timeout:
        state.error = _stalled(limits)
        return
    except requests.RequestException as exc:
        state.error = f"{type(exc).__name__}: {exc}"
        return
    connection = response.raw.connection
    state.sock = connection.sock if connection is not None else None
    if state.cancelled.is_set() and state.sock is not None:  # the caller gave up meanwhile
        with contextlib.suppress(OSError):
            state.sock.shutdown(socket.SHUT_RDWR)
    with response:
        state.status = response.status_code
        if response.status_code != 200:
            return
        try:
            state.body = _read_body(response, limits, state)
        except (urllib3.exceptions.ReadTimeoutError, requests.Timeout):
            state.error = _stalled(limits)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            state.error = f"{type(exc).__name__}: {exc}"
        except _TooBig as exc:
            state.error = str(exc)


class _TooBig(Exception):
    pass


def _read_body(response: requests.Response, limits: HttpLimits, state: _Download) -> bytes:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _TooBig(f"Content-Encoding {encoding!r} refused (identity was asked for)")
    length = response.headers.get("Content-Length", "")
    too_big = exceeded("HTTP_MAX_BYTES", limits.max_bytes, "response body")
    if length.isascii() and length.isdigit() and int(length) > limits.max_bytes:
        raise _TooBig(f"{too_big} (Content-Length {length})")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.raw.stream(CHUNK, decode_content=False):
        if state.cancelled.is_set():
            return b""
        total += len(chunk)
        if total > limits.max_bytes:
            raise _TooBig(too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def _stalled(limits: HttpLimits) -> str:
    return (
        "the server sent nothing for the HTTP_STALL_SECONDS limit "
        f"({seconds_text(limits.stall_seconds)})"
    )
