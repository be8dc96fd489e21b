"""The FastAPI application factory.

Contract: ``create_app(settings, assistant=None, sessions=None)`` returns a ready ASGI app.
- Given an ``assistant`` it is used as is (and not closed at shutdown); otherwise the
  model named by ``settings`` is loaded in a worker thread after startup, while the server
  already answers: ``/healthz`` and model endpoints give 503 until it is ready, and a
  failed load is reported there (the process keeps running).
- ``app.state`` holds ``settings``, ``assistant``, ``sessions`` (a ``SessionStore``;
  default ``SqliteSessionStore`` at ``settings.db_path``, closed at shutdown), ``metrics``,
  ``gates`` (``"chat"``, ``"sentiment"``), ``public_paths`` (paths served without the API key) and
  ``load_error``.
- Routers come from the modules listed in ``ROUTER_MODULES``; a feature adds its own
  module with a ``router`` and one line there; a module's optional ``install(app)`` runs
  after its router is included.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from moodchat import __version__
from moodchat.errors import MoodchatError
from moodchat.server.admission import Gate
from moodchat.server.errors import install_error_handlers
from moodchat.server.guard import Guard
from moodchat.server.metrics import Metrics
from moodchat.server.sessions_routes import open_session_store
from moodchat.server.settings import ServerSettings
from moodchat.server.worker import run_model
from moodchat.sessions.protocol import SessionStore

log = logging.getLogger("moodchat.server")

ROUTER_MODULES = (
    "moodchat.server.health",
    "moodchat.server.native",
    "moodchat.server.openai_compat",
    "moodchat.server.sessions_routes",
    "moodchat.server.web",
)

DESCRIPTION = (
    "One small local model reads the mood of a message (positive/negative with a "
    "confidence), then answers it as a warm, empathetic assistant. See docs/server.md."
)


def create_app(
    settings: ServerSettings | None = None,
    assistant=None,
    sessions: SessionStore | None = None,
) -> FastAPI:
    """Build the moodchat HTTP service (see the module contract)."""
    settings = settings or ServerSettings()
    app = FastAPI(
        title="moodchat", version=__version__, description=DESCRIPTION, lifespan=_lifespan
    )
    state = app.state
    state.settings = settings
    state.assistant = assistant
    state.owns_assistant = assistant is None
    state.load_error = None
    state.sessions = sessions if sessions is not None else open_session_store(settings)
    state.owns_sessions = sessions is None
    state.metrics = Metrics()
    state.gates = _gates(settings, state.metrics)
    state.public_paths = {"/healthz"}
    state.started_at = time.time()
    state.metrics.ready.set(1 if assistant is not None else 0)
    install_error_handlers(app)
    app.add_middleware(Guard, state=state)
    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router)
        if hasattr(module, "install"):
            module.install(app)
    if settings.api_key:
        _document_bearer_auth(app)
    return app


def _gates(settings: ServerSettings, metrics: Metrics) -> dict[str, Gate]:
    gates = {
        "chat": Gate(
            "chat",
            settings.max_concurrency,
            settings.max_queue,
            settings.retry_after_s,
            metrics.reject,
        ),
        "sentiment": Gate(
            "sentiment",
            settings.max_sentiment_concurrency,
            settings.max_sentiment_queue,
            settings.retry_after_s,
            metrics.reject,
        ),
    }
    for role, gate in gates.items():
        metrics.track_gate(role, lambda g=gate: g.active, lambda g=gate: g.waiting)
    return gates


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    loading = asyncio.create_task(_load(app)) if state.assistant is None else None
    try:
        yield
    finally:
        if loading is not None:
            with suppress(BaseException):
                await loading
        idle = all(g.active == 0 for g in state.gates.values())
        if state.owns_assistant and state.assistant is not None and idle:
            bot, state.assistant = state.assistant, None
            bot.close()


async def _load(app: FastAPI) -> None:
    """Load the configured model in a worker thread and mark the app ready."""
    from moodchat.assistant import Assistant

    options = app.state.settings.options()

    def load():
        return Assistant.load(options)

    try:
        app.state.assistant = await run_model(load)
    except MoodchatError as err:
        app.state.load_error = str(err)
        log.error("could not load the model: %s", err)
        return
    except Exception as err:  # a bug or a native failure: keep serving 503 with the reason
        app.state.load_error = f"model load failed: {err}"
        log.exception("could not load the model")
        return
    app.state.metrics.ready.set(1)
    log.info("model ready")


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer API key in the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
