"""Download a 256 MiB file over loopback: kmodkit's SDK downloader vs ``curl -o`` (goal >= 0.9).

Run: ``python bench/bench_fetch.py [--size-mib N]``. One local HTTP server (its own process,
answering with ``sendfile`` so it is not the bottleneck) serves the same file to both sides;
both write it to the same filesystem. The sides run interleaved, round after round, and each
keeps its best time. Throughput ratio = curl time / kmodkit time (1.0: as fast as curl). The
sha256 check kmodkit does afterwards is timed separately, for information.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kmodkit.sdk.download import Client, sha256_file

ROUNDS = 5

SERVER = r"""
import http.server, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = os.path.join(sys.argv[1], self.path.lstrip("/"))
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as fh:
            self.wfile.flush()
            self.connection.sendfile(fh)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is missing: apt-get install -y curl")
    with tempfile.TemporaryDirectory(prefix="kmodkit-bench-fetch-") as tmp:
        root = Path(tmp)
        www = root / "www"
        www.mkdir()
        payload = www / "sdk.tar.zst"
        with open(payload, "wb") as fh:
            for _ in range(args.size_mib):
                fh.write(os.urandom(1 << 20))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(www)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            url = f"http://127.0.0.1:{port}"
            run(root, url, payload)
        finally:
            server.terminate()
            server.wait()


def run(root: Path, url: str, payload: Path) -> None:
    client = Client([url])
    best = {"kmodkit": float("inf"), "curl -o": float("inf"), "sha256": float("inf")}
    for _ in range(ROUNDS):
        part = root / "kmodkit.part"
        part.unlink(missing_ok=True)
        start = time.perf_counter()
        client.download("sdk.tar.zst", part)
        best["kmodkit"] = min(best["kmodkit"], time.perf_counter() - start)
        start = time.perf_counter()
        sha256_file(part)
        best["sha256"] = min(best["sha256"], time.perf_counter() - start)
        assert part.stat().st_size == payload.stat().st_size
        out = root / "curl.out"
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(["curl", "-s", "-o", str(out), f"{url}/sdk.tar.zst"], check=True)
        best["curl -o"] = min(best["curl -o"], time.perf_counter() - start)
        assert out.stat().st_size == payload.stat().st_size
    client.close()
    mib = payload.stat().st_size / (1 << 20)
    for name, seconds in best.items():
        print(f"{name:8} {seconds:7.3f} s  {mib / seconds:8.0f} MiB/s")
    ratio = best["curl -o"] / best["kmodkit"]
    print(f"throughput ratio kmodkit / curl -o: {ratio:.2f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
