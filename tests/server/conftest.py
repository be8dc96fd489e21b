"""Fixtures for the server tests.

``make_app(**settings)`` builds an app on ``Assistant(FakeEngine())``; ``client`` is a
``TestClient`` on the default one; ``live_server``, ``wait_until`` and ``sse_events`` come
from ``tests/live.py``. ``SlowEngine`` is a
``FakeEngine`` whose generation waits ``delay`` seconds per token and records how many
tokens it produced, for queue and disconnect tests.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from fakes import FakeEngine
from live import live_server, sse_events, wait_until  # noqa: F401 (used via conftest)
from moodchat import Assistant
from moodchat.server import ServerSettings, create_app
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
