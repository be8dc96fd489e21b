"""The server's state: one typed object, built by ``create_app``, read by every route.

Contract: ``ServerState`` holds everything the routes, the middleware and the lifespan
share: settings, the assistant (None until loaded), the session store, metrics, admission
gates, the public paths, the escalation counter and webhook notifier. ``server_state(x)``
returns it from a ``Request`` or the app (it is the app's one ``state.server`` attribute).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request

if TYPE_CHECKING:
    from moodchat.assistant import Assistant
    from moodchat.server.admission import Gate
    from moodchat.server.metrics import Metrics
    from moodchat.server.settings import ServerSettings
    from moodchat.sessions.escalation import WebhookNotifier
    from moodchat.sessions.protocol import SessionStore


@dataclass
class ServerState:
    """What one running app shares between requests."""

    settings: ServerSettings
    sessions: SessionStore
    metrics: Metrics
    gates: dict[str, Gate]
    assistant: Assistant | None = None
    owns_assistant: bool = False
    owns_sessions: bool = False
    load_error: str | None = None
    public_paths: set[str] = field(default_factory=lambda: {"/healthz"})
    started_at: float = field(default_factory=time.time)
    escalations: int = 0
    webhook: WebhookNotifier | None = None


def server_state(holder: Request | FastAPI) -> ServerState:
    """The ``ServerState`` of a ``Request`` or of the app itself."""
    app = holder.app if isinstance(holder, Request) else holder
    return app.state.server
