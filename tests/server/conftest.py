"""Fixtures for the server tests.

``make_app(**settings)`` builds an app on ``Assistant(FakeEngine())``; ``client`` is a
``TestClient`` on the default one; ``fake_app``, ``live_server``, ``wait_until`` and
``sse_events`` come from ``tests/live.py``, ``SlowEngine`` from ``tests/fakes.py``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fakes import SlowEngine  # noqa: F401 (used via conftest)
from live import fake_app, live_server, sse_events, wait_until  # noqa: F401


@pytest.fixture
def make_app():
    return fake_app


@pytest.fixture
def client():
    with TestClient(fake_app()) as c:
        yield c
