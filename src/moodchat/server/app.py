"""The FastAPI application factory.

Contract: ``create_app(settings, assistant=None, sessions=None)`` returns a ready ASGI app.
- Given an ``assistant`` it is used as is (and not closed at shutdown); otherwise the
  model named by ``settings`` is loaded in a worker thread after startup, while the server
  already answers: ``/healthz`` and model endpoints give 503 until it is ready, and a
  failed load is reported there (the process keeps running).
- ``app.state.server`` is the one typed ``ServerState`` (``moodchat.server.state``):
  settings, assistant, sessions (a ``SessionStore``; default ``SqliteSessionStore`` at
  ``settings.db_path``), metrics, gates (``"chat"``, ``"sentiment"``), public paths (served
  without the API key), load error, escalation counter and webhook notifier.
- One lifespan starts the model load and, at shutdown, flushes the webhook, closes the
  session store it opened and frees the model it loaded.
- Routers come from the modules listed in ``ROUTER_MODULES``; a feature adds its own
  module with a ``router`` and one line there; a module's optional ``install(app)`` runs
  after its router is included.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio.to_thread
from fastapi import FastAPI

from moodchat import __version__
from moodchat.errors import MoodchatError
from moodchat.server.admission import Gate
from moodchat.server.errors import install_error_handlers
from moodchat.server.guard import Guard
from moodchat.server.metrics import Metrics
from moodchat.server.sessions_routes import open_session_store
from moodchat.server.settings import ServerSettings
from moodchat.server.state import ServerState, server_state
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
    metrics = Metrics()
    state = ServerState(
        settings=settings,
        sessions=sessions if sessions is not None else open_session_store(settings),
        metrics=metrics,
        gates=_gates(settings, metrics),
        assistant=assistant,
        owns_assistant=assistant is None,
        owns_sessions=sessions is None,
    )
    app.state.server = state
    metrics.ready.set(1 if assistant is not None else 0)
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
            settings.parallel,
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
    state = server_state(app)
    loading = asyncio.create_task(_load(state)) if state.assistant is None else None
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
        if state.webhook is not None:
            await anyio.to_thread.run_sync(state.webhook.flush, 2.0)
            state.webhook.close()
        if state.owns_sessions:
            state.sessions.close()


async def _load(state: ServerState) -> None:
    """Load the configured model in a worker thread and mark the app ready."""
    from moodchat.assistant import Assistant

    options = state.settings.options()

    def load():
        return Assistant.load(options)

    try:
        state.assistant = await run_model(load)
    except MoodchatError as err:
        state.load_error = str(err)
        log.error("could not load the model: %s", err)
        return
    except Exception as err:  # a bug or a native failure: keep serving 503 with the reason
        state.load_error = f"model load failed: {err}"
        log.exception("could not load the model")
        return
    state.metrics.ready.set(1)
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
