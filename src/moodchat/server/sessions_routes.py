"""Session routes and wiring: stored conversations, mood timelines, escalation webhook.

Contract:
- ``GET /v1/sessions/{id}`` -> ``{"session_id", "escalated", "escalation_reason",
  "negative_streak", "created", "updated", "messages": [{"role", "content", "time",
  "sentiment"}]}`` (``sentiment`` is ``{"label", "confidence"}`` on user turns, null on
  replies; times are Unix seconds); 404 ``session_not_found`` for an unknown session.
- ``GET /v1/sessions/{id}/mood`` -> the JSON list ``[{time, label, confidence, text}]``,
  oldest first (404 as above). ``DELETE /v1/sessions/{id}`` -> 204, or 404.
- An invalid id is 422 ``invalid_session_id``. Every route needs the API key when one is
  set (the ``Guard`` middleware); store calls run in worker threads.
- ``open_session_store(settings)`` is the app's default store: ``PostgresSessionStore`` at
  ``settings.database_url`` when set (sessions every replica sees), else
  ``SqliteSessionStore`` at ``settings.db_path`` (default ``moodchat_home()/moodchat.db``),
  with the escalation rule of the settings. ``install(app)`` (called by ``create_app``) attaches a
  ``WebhookNotifier`` when ``settings.webhook_url`` is set and the store has an
  ``on_escalate`` hook free, exports escalation and webhook counters to ``/metrics``, and
  flushes (bounded) and closes the notifier, and the store when the app opened it, at
  shutdown.
Works with any ``SessionStore``; the richer fields (times, escalation) come from stores
that have ``messages()`` / ``info()`` (the SQLite and PostgreSQL stores).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from moodchat.server.errors import ApiError
from moodchat.server.service import valid_session_id
from moodchat.server.state import ServerState, server_state
from moodchat.sessions.escalation import EscalationRule, WebhookNotifier
from moodchat.sessions.protocol import SessionStore

log = logging.getLogger("moodchat.server")

ERRORS = {
    404: {"description": "No such session (``session_not_found``)."},
    422: {"description": "Invalid session id (``invalid_session_id``)."},
}

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=ERRORS)


def escalation_rule(settings) -> EscalationRule:
    """The escalation rule the settings describe."""
    return EscalationRule(
        after_negative=settings.escalate_after_negative or None,
        confidence=settings.escalate_confidence,
    )


def open_session_store(settings):
    """The app's ``SessionStore`` with the rule: PostgreSQL at ``settings.database_url``
    when set, else SQLite at ``settings.db_path``."""
    from moodchat.sessions.store import StoreError

    url = settings.database_url
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError("database_url must be a postgresql:// URL")
        from moodchat.sessions.postgres import PostgresSessionStore

        return PostgresSessionStore(url, rule=escalation_rule(settings))
    from moodchat.sessions.store import SqliteSessionStore

    return SqliteSessionStore(settings.db_path or None, rule=escalation_rule(settings))


def _not_found(session_id: str) -> ApiError:
    return ApiError(404, "session_not_found", f"no session {session_id!r}")


def session_view(store: SessionStore, session_id: str) -> dict | None:
    """The JSON of a session, or None when the store has no such session."""
    info = store.info(session_id)
    rows = store.messages(session_id)
    if info is None and not rows:
        return None
    info = info or {"escalated": False, "escalation_reason": None, "negative_streak": None}
    messages = [
        {
            "role": r["role"],
            "content": r["content"],
            "time": r["time"],
            "sentiment": {"label": r["label"], "confidence": r["confidence"]}
            if r["label"] is not None
            else None,
        }
        for r in rows
    ]
    return {
        "session_id": session_id,
        "escalated": bool(info.get("escalated")),
        "escalation_reason": info.get("escalation_reason"),
        "negative_streak": info.get("negative_streak"),
        "created": info.get("created"),
        "updated": info.get("updated"),
        "messages": messages,
    }


@router.get("/{session_id}")
def get_session(session_id: str, request: Request) -> dict:
    """The stored conversation: every turn with its time, user turns with their mood."""
    sid = valid_session_id(session_id)
    view = session_view(server_state(request).sessions, sid)
    if view is None:
        raise _not_found(sid)
    return view


@router.get("/{session_id}/mood")
def get_mood(session_id: str, request: Request) -> list[dict]:
    """The mood timeline: ``[{time, label, confidence, text}]``, oldest first."""
    sid = valid_session_id(session_id)
    store = server_state(request).sessions
    points = store.mood(sid)
    if not points and session_view(store, sid) is None:
        raise _not_found(sid)
    return [asdict(p) for p in points]


@router.delete("/{session_id}", status_code=204)
def delete_session(session_id: str, request: Request) -> Response:
    """Forget the conversation and its moods."""
    sid = valid_session_id(session_id)
    if not server_state(request).sessions.delete(sid):
        raise _not_found(sid)
    return Response(status_code=204)


class _WebhookCollector:
    """Escalation and webhook counters for the app's Prometheus registry."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterator:
        escalations = CounterMetricFamily(
            "moodchat_escalations", "Sessions that escalated (the rule fired)"
        )
        escalations.add_metric([], self.state.escalations)
        yield escalations
        hook = self.state.webhook
        stats = hook.stats() if hook is not None else {}
        outcomes = CounterMetricFamily(
            "moodchat_webhook_deliveries",
            "Escalation webhook summaries by outcome (sent, failed after retries, dropped)",
            labels=["outcome"],
        )
        for outcome in ("sent", "failed", "dropped"):
            outcomes.add_metric([outcome], stats.get(outcome, 0))
        yield outcomes
        retries = CounterMetricFamily("moodchat_webhook_retries", "Webhook attempts retried")
        retries.add_metric([], stats.get("retried", 0))
        yield retries
        pending = GaugeMetricFamily("moodchat_webhook_pending", "Summaries awaiting delivery")
        pending.add_metric([], stats.get("pending", 0))
        yield pending


def install(app: FastAPI) -> None:
    """Escalation hook, webhook notifier and their metrics for the app's session store."""
    state = server_state(app)
    settings = state.settings
    count_lock = threading.Lock()
    if state.sessions.on_escalate is None:
        notifier = None
        if settings.webhook_url:
            notifier = WebhookNotifier(
                settings.webhook_url, max_attempts=settings.webhook_max_attempts
            )
            state.webhook = notifier

        def on_escalate(summary: dict) -> None:
            with count_lock:
                state.escalations += 1
            log.warning("session %s escalated: %s", summary["session_id"], summary["reason"])
            if notifier is not None:
                notifier.submit(summary)

        state.sessions.on_escalate = on_escalate
    state.metrics.registry.register(_WebhookCollector(state))
