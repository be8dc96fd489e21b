"""Fixtures for the server tests.

``make_app(**settings)`` builds an app on ``Assistant(FakeEngine())``; ``client`` is a
``TestClient`` on the default one. ``live_server(app)`` runs an app on uvicorn on a free
127.0.0.1 port in a thread (a real socket, so disconnects are real). ``SlowEngine`` is a
``FakeEngine`` whose generation waits ``delay`` seconds per token and records how many
tokens it produced, for queue and disconnect tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.server import ServerSettings, create_app
from moodchat.server.settings import UVICORN_IO
from moodchat.sessions.protocol import MemorySessionStore


class SlowEngine(FakeEngine):
    """A fake engine that takes ``delay`` seconds per generated token."""

    def __init__(self, delay: float = 0.02, reply: str = "x" * 200) -> None:
        super().__init__(reply=reply)
        self.delay = delay

    def generate(self, *args, **kwargs):
        for token in super().generate(*args, **kwargs):
            time.sleep(self.delay)
            yield token


def fake_app(engine=None, **settings):
    """An app on a fake assistant (sessions in memory) with the given settings."""
    return create_app(
        ServerSettings(**settings),
        assistant=Assistant(engine or FakeEngine()),
        sessions=MemorySessionStore(),
    )


@pytest.fixture
def make_app():
    return fake_app


@pytest.fixture
def client():
    with TestClient(fake_app()) as c:
        yield c


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
