"""A tiny local webhook receiver for tests: records POSTed JSON, answers scripted statuses.

``Receiver(statuses=[500, 200])`` listens on 127.0.0.1 (a free port) in a thread; each POST
answers the next scripted status (the last one repeats) and appends ``(status, json)`` to
``received``. Use it as a context manager; ``url`` is its address.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[tuple[int, dict]] = []
        self.arrived = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = owner._next_status()
                owner.received.append((status, json.loads(body or b"null")))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                owner.arrived.set()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _next_status(self) -> int:
        n = len(self.received)
        return self.statuses[min(n, len(self.statuses) - 1)]

    def delivered(self) -> list[dict]:
        """Payloads that were answered with a 2xx."""
        return [body for status, body in self.received if 200 <= status < 300]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
