"""Helpers for tests that talk to a real server over a socket.

``live_server(app)`` runs an ASGI app on uvicorn on a free 127.0.0.1 port in a thread (a
real socket, so disconnects are real); ``wait_until`` polls a condition with a bound;
``sse_events`` parses an SSE body into (event, data) pairs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from moodchat.server.settings import UVICORN_IO


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **UVICORN_IO))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def wait_until(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (a bound on waiting, not a timed assert)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """Parse an SSE body into (event, data) pairs."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((event, "\n".join(data)))
    return out
