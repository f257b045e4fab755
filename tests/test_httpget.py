"""--index URL downloads are bounded in size and time, against real servers on 127.0.0.1.

The limits are parameters (HttpLimits), so these tests use deadlines of about a second
instead of the production minutes; nothing here asserts a duration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kmodkit.errors import FetchError
from kmodkit.httpget import Deadline, HttpLimits, get
from kmodkit.verify.bases import load_base
from kmodkit.verify.model import Findings

PACKAGES = b"Package: base-a\nVersion: 1.0-r1\nArchitecture: x86_64\n\n"


class _Hostile(BaseHTTPRequestHandler):
    """/drip: one byte every 0.1 s, forever; /stall: 10 bytes then silence; /endless: no
    Content-Length, bytes until the client leaves."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path.startswith("/endless"):
            self.send_header("Connection", "close")
            self.end_headers()
            self._send_until_gone(b"x" * 65536, 0)
            return
        self.send_header("Content-Length", "1000")
        self.end_headers()
        if self.path.startswith("/drip"):
            self._send_until_gone(b"P", 0.1)
        else:
            self.wfile.write(b"Package: a")
            self.wfile.flush()
            self.server.release.wait(10)  # type: ignore[attr-defined]

    def _send_until_gone(self, chunk: bytes, pause: float) -> None:
        end = time.monotonic() + 20  # the server gives up by itself too
        try:
            while time.monotonic() < end and not self.server.release.is_set():  # type: ignore[attr-defined]
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass  # the client closed the connection: what the limits are for


@pytest.fixture
def hostile_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    server.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


# the stall timeout is far above the drip interval, so only the deadline can stop a drip, even
# on a loaded machine
FAST = HttpLimits(max_bytes=50_000, connect_seconds=10, stall_seconds=10, deadline_seconds=1.5)


def test_dripping_server_hits_the_deadline(hostile_server: str) -> None:
    """One byte every 0.1 s never trips the stall timeout; the overall deadline stops it."""
    with pytest.raises(FetchError, match=r"HTTP_DEADLINE_SECONDS limit \(1.5 s\)"):
        get(f"{hostile_server}/drip/Packages", Deadline(FAST))


def test_silent_server_hits_the_stall_timeout(hostile_server: str) -> None:
    limits = HttpLimits(stall_seconds=0.3, deadline_seconds=20)
    with pytest.raises(FetchError, match=r"sent nothing for the HTTP_STALL_SECONDS limit"):
        get(f"{hostile_server}/stall/Packages", Deadline(limits))


def test_body_without_length_is_capped(hostile_server: str) -> None:
    with pytest.raises(FetchError, match=r"response body exceeds the HTTP_MAX_BYTES limit"):
        get(f"{hostile_server}/endless/Packages", Deadline(FAST))


def test_announced_length_over_the_cap_is_refused_before_reading(httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/big/Packages").respond_with_data(b"x" * 60_000)
    with pytest.raises(FetchError, match=r"HTTP_MAX_BYTES limit .*Content-Length 60000"):
        get(httpserver.url_for("/big/Packages"), Deadline(FAST))


def test_index_url_within_the_limits_loads(httpserver) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/feed/Packages").respond_with_data(PACKAGES)
    findings = Findings()
    base = load_base(httpserver.url_for("/feed/"), findings, FAST)
    assert base is not None and [e.name for e in base.entries] == ["base-a"]


def test_index_url_deadline_is_a_finding_naming_the_url(hostile_server: str) -> None:
    findings = Findings()
    url = f"{hostile_server}/drip/"
    assert load_base(url, findings, FAST) is None
    [result] = findings.results()
    assert result.check_id == "input.unreadable" and result.artifact == url
    assert "HTTP_DEADLINE_SECONDS" in result.message
