"""A web server outside the hub, for browser tests: an integrator's reply endpoint that answers
as scripted, and an image host that counts what it is asked for."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import free_port

# The smallest valid GIF (1x1, transparent).
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


class Outside:
    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.script: list[tuple[int, str]] = []  # answers to POSTs, in order; then 200
        self.posts: list[bytes] = []
        self.gets: Counter[str] = Counter()
        outside = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outside.lock:
                    outside.posts.append(raw)
                    status, body = outside.script.pop(0) if outside.script else (200, '{"ok": true}')
                self._answer(status, "application/json", body.encode())

            def do_GET(self) -> None:  # noqa: N802
                with outside.lock:
                    outside.gets[self.path] += 1
                self._answer(200, "image/gif", PIXEL)

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fetched(self, path: str) -> int:
        with self.lock:
            return self.gets[path]

    def posted(self) -> int:
        with self.lock:
            return len(self.posts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
