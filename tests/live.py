"""Helpers for tests that talk to a real server over a socket.

``live_server(app)`` runs an ASGI app on uvicorn on a free 127.0.0.1 port in a thread (a
real socket, so disconnects are real); ``wait_until`` polls a condition with a bound;
``sse_events`` parses an SSE body into (event, data) pairs; ``read_token_events(response,
n)`` reads a streaming ``/v1/chat`` answer until its n-th token event (then the caller
leaves); ``free_port()`` is a free 127.0.0.1 port; ``fake_app(engine, **settings)`` is the
server on a fake assistant with sessions in memory.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.server import ServerSettings, create_app
from moodchat.server.settings import UVICORN_IO
from moodchat.sessions.protocol import MemorySessionStore


def fake_app(engine=None, **settings):
    """An app on a fake assistant (sessions in memory) with the given settings."""
    return create_app(
        ServerSettings(**settings),
        assistant=Assistant(engine or FakeEngine()),
        sessions=MemorySessionStore(),
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def read_token_events(response, n: int) -> None:
    """Read a streaming chat answer until its ``n``-th ``token`` event."""
    seen = 0
    for line in response.iter_lines():
        seen += line.startswith("event: token")
        if seen == n:
            return
