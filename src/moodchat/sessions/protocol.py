"""Conversation sessions: the interface front ends use, and an in-memory implementation.

Contract:
- ``SessionStore`` is what the server (and ``moodchat chat --session``) calls; a persistent
  implementation (SQLite) lives in ``moodchat.sessions.store`` with the same methods.
- ``record_user`` stores the user's message with its sentiment and returns the session's
  state after it (including whether the escalation rule has fired); once it returns, the
  message is acknowledged and must survive a crash of a persistent store.
- ``record_reply`` stores the assistant's reply. ``history`` returns the turns in order;
  ``messages`` the same turns as dicts with each user turn's mood, ``info`` the session's
  row (None if unknown). ``on_escalate`` is the hook a store calls when its escalation rule
  fires (a store without a rule never calls it); ``close`` releases the store.
- Session ids are opaque strings of 1-128 characters from ``[A-Za-z0-9_.-]``.
- ``next_streak(streak, label)`` is the negative streak after a message, for every store: a
  negative message adds one, a positive one resets it, a neutral one (an order number, a
  plain question) leaves it as it was.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from moodchat.errors import InputError
from moodchat.types import Message, Sentiment

SESSION_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def next_streak(streak: int, label: str) -> int:
    """The negative streak after a message with mood ``label`` (neutral keeps it)."""
    if label == "negative":
        return streak + 1
    return streak if label == "neutral" else 0


def check_session_id(session_id: str) -> str:
    """Return ``session_id`` or raise ``InputError`` if it is not a valid id."""
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise InputError("session_id must be 1-128 characters of letters, digits, '_', '.', '-'")
    return session_id


@dataclass(frozen=True)
class MoodPoint:
    """One entry of a session's mood timeline."""

    time: float
    label: str
    confidence: float
    text: str


@dataclass
class SessionState:
    """What a front end needs to know about a session after a message."""

    session_id: str
    escalated: bool = False
    negative_streak: int = 0


EscalationHook = Callable[[dict], object]


class SessionStore(Protocol):
    """Where conversations and their moods are kept."""

    on_escalate: EscalationHook | None

    def history(self, session_id: str) -> list[Message]:
        """All turns of the session, oldest first (empty for an unknown session)."""

    def record_user(self, session_id: str, text: str, sentiment: Sentiment) -> SessionState:
        """Store a user message and its mood; return the session's state after it."""

    def record_reply(self, session_id: str, text: str) -> None:
        """Store the assistant's reply to the last user message."""

    def mood(self, session_id: str) -> list[MoodPoint]:
        """The session's mood timeline, oldest first."""

    def delete(self, session_id: str) -> bool:
        """Forget a session; False if there was none."""

    def messages(self, session_id: str) -> list[dict]:
        """Turns as ``{role, content, time, label, confidence}`` dicts, oldest first."""

    def info(self, session_id: str) -> dict | None:
        """``{session_id, created, updated, negative_streak, escalated, ...}`` or None."""

    def close(self) -> None:
        """Release the store (files, connections); it is unusable afterwards."""


@dataclass
class _Session:
    messages: list[Message] = field(default_factory=list)
    moods: list[MoodPoint] = field(default_factory=list)
    state: SessionState | None = None


class MemorySessionStore:
    """A ``SessionStore`` in process memory (lost at exit); no escalation rule."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self.on_escalate: EscalationHook | None = None  # no rule: never called

    def history(self, session_id: str) -> list[Message]:
        with self._lock:
            s = self._sessions.get(check_session_id(session_id))
            return list(s.messages) if s else []

    def record_user(self, session_id: str, text: str, sentiment: Sentiment) -> SessionState:
        with self._lock:
            s = self._sessions.setdefault(check_session_id(session_id), _Session())
            s.messages.append(Message("user", text))
            s.moods.append(MoodPoint(time.time(), sentiment.label, sentiment.confidence, text))
            s.state = s.state or SessionState(session_id)
            s.state.negative_streak = next_streak(s.state.negative_streak, sentiment.label)
            return SessionState(session_id, s.state.escalated, s.state.negative_streak)

    def record_reply(self, session_id: str, text: str) -> None:
        with self._lock:
            s = self._sessions.setdefault(check_session_id(session_id), _Session())
            s.messages.append(Message("assistant", text))

    def mood(self, session_id: str) -> list[MoodPoint]:
        with self._lock:
            s = self._sessions.get(check_session_id(session_id))
            return list(s.moods) if s else []

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(check_session_id(session_id), None) is not None

    def messages(self, session_id: str) -> list[dict]:
        with self._lock:
            s = self._sessions.get(check_session_id(session_id)) or _Session()
            moods = iter(s.moods)  # user turns and mood points correspond one to one
            rows = []
            for m in s.messages:
                p = next(moods, None) if m.role == "user" else None
                rows.append(
                    {
                        "role": m.role,
                        "content": m.content,
                        "time": p and p.time,
                        "label": p and p.label,
                        "confidence": p and p.confidence,
                    }
                )
            return rows

    def info(self, session_id: str) -> dict | None:
        with self._lock:
            s = self._sessions.get(check_session_id(session_id))
            if s is None:
                return None
            state = s.state or SessionState(session_id)
            return {
                "session_id": session_id,
                "escalated": state.escalated,
                "escalation_reason": None,
                "negative_streak": state.negative_streak,
            }

    def close(self) -> None:
        """Nothing to release."""
