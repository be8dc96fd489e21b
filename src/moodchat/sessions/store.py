"""Persistent sessions: the ``SessionStore`` protocol on an embedded SQLite database.

Contract:
- ``SqliteSessionStore(path, rule=None, on_escalate=None)`` opens (creating it and its
  folder) the database at ``path`` (default ``default_db_path()``, i.e.
  ``moodchat_home()/moodchat.db``), brings its schema up to date and implements
  ``moodchat.sessions.protocol.SessionStore``: ``history``, ``record_user``, ``record_reply``,
  ``mood``, ``delete``; plus ``messages`` (turns with their moods and times) and
  ``info`` (escalation state and timestamps) for the HTTP routes and the CLI. The part
  above the SQL (``history``, ``mood``, ``summary``, the escalation decision and hook) is
  ``DurableSessionStore``, which the PostgreSQL store shares.
- Every ``record_*`` call is one committed transaction before it returns: a returned call
  is an acknowledged message. A file that cannot be opened or is not a database raises
  ``StoreError`` (a ``MoodchatError``); an invalid session id raises ``InputError``.
- ``record_user`` applies the escalation ``rule`` (``moodchat.sessions.escalation``) inside the
  same transaction; the flag is sticky for the life of the session. When it first fires,
  ``on_escalate(summary)`` is called after the commit with the webhook summary (it must
  not block: ``WebhookNotifier.submit`` only enqueues).
- Thread-safe: one connection per store, serialized by a lock; other processes may open
  the same file (WAL readers never block the writer; writers wait up to ``busy_timeout``).

Schema migrations are an ordered list; ``PRAGMA user_version`` holds how many have been
applied. Each migration runs in its own ``BEGIN IMMEDIATE`` transaction that re-reads the
version first, so two processes opening an old database at once apply it exactly once.
Never edit a shipped migration; append a new one.

Durability: the database runs in WAL mode with ``synchronous=FULL``. A commit returns
only after its WAL frames have been written *and* fsync'ed, so an acknowledged message
survives not only ``kill -9`` of the process but an OS crash or power loss. (For a bare
process kill, ``synchronous=NORMAL`` would already suffice: the frames are in the kernel's
page cache when ``COMMIT`` returns, and the next opener replays the WAL. FULL costs one
fsync per message, which is negligible next to a model reply, so we take the stronger
guarantee.) ``tests/test_store_durability.py`` SIGKILLs a writer mid-stream and checks
that every acknowledged message is there after reopening.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from moodchat.errors import MoodchatError
from moodchat.sessions.escalation import EscalationRule
from moodchat.sessions.protocol import (
    EscalationHook,
    MoodPoint,
    SessionState,
    check_session_id,
    next_streak,
)
from moodchat.types import Message, Sentiment
from moodchat.weights.models import moodchat_home

log = logging.getLogger(__name__)

DB_NAME = "moodchat.db"
SUMMARY_MESSAGES = 10

MIGRATIONS: list[list[str]] = [
    # 1: sessions and their messages; a user message carries its mood.
    [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL REFERENCES sessions(id),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            time REAL NOT NULL,
            label TEXT,
            confidence REAL
        )""",
        "CREATE INDEX messages_by_session ON messages(session_id, id)",
    ],
    # 2: escalation state per session, with the current negative streak backfilled.
    [
        "ALTER TABLE sessions ADD COLUMN negative_streak INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN escalation_reason TEXT",
        "ALTER TABLE sessions ADD COLUMN escalated_at REAL",
        """UPDATE sessions SET negative_streak = (
            SELECT COUNT(*) FROM messages m
            WHERE m.session_id = sessions.id AND m.role = 'user' AND m.label = 'negative'
              AND m.id > COALESCE((
                SELECT MAX(p.id) FROM messages p
                WHERE p.session_id = sessions.id AND p.role = 'user'
                  AND p.label IS NOT 'negative'), 0)
        )""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(MoodchatError):
    """The session database cannot be opened or used."""

    code = "store_error"


class DurableSessionStore:
    """What the SQLite and PostgreSQL stores share above their SQL: the turns as messages
    and moods, the webhook summary, the escalation decision and firing its hook.

    A subclass provides ``messages(session_id, limit=None)``, ``info(session_id)``,
    ``close()`` and, in its own transaction, stores the streak ``escalation_step`` returns.
    """

    rule: EscalationRule
    on_escalate: EscalationHook | None

    def history(self, session_id: str) -> list[Message]:
        """All turns of the session, oldest first (empty for an unknown session)."""
        return [Message(m["role"], m["content"]) for m in self.messages(session_id)]

    def mood(self, session_id: str) -> list[MoodPoint]:
        """The mood of every user message, oldest first."""
        return [
            MoodPoint(m["time"], m["label"], m["confidence"], m["content"])
            for m in self.messages(session_id)
            if m["role"] == "user" and m["label"] is not None
        ]

    def summary(self, session_id: str, n_messages: int = SUMMARY_MESSAGES) -> dict:
        """What the escalation webhook receives about a session."""
        info = self.info(session_id) or {"session_id": session_id}
        recent = self.messages(session_id, limit=n_messages)
        return {
            "event": "session.escalated",
            "session_id": session_id,
            "reason": info.get("escalation_reason"),
            "escalated_at": info.get("escalated_at"),
            "negative_streak": info.get("negative_streak"),
            "messages": [{k: v for k, v in m.items() if k != "id"} for m in recent],
        }

    def escalation_step(self, row, sentiment: Sentiment) -> tuple[int, bool, str | None]:
        """(new streak, escalated, reason if the rule fires now) from the session's row."""
        streak = next_streak(row["negative_streak"], sentiment.label)
        escalated = bool(row["escalated"])
        reason = None if escalated else self.rule.check(streak, sentiment)
        return streak, escalated or reason is not None, reason

    def _notify(self, session_id: str, reason: str | None) -> None:
        """Call the hook after the commit when the rule fired; a failing hook is logged."""
        if reason is None or self.on_escalate is None:
            return
        try:
            self.on_escalate(self.summary(session_id))
        except Exception:  # the message is stored; a failing hook must not undo that
            log.exception("escalation hook failed for session %s", session_id)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_db_path() -> Path:
    """Where sessions are kept unless told otherwise."""
    return moodchat_home() / DB_NAME


def connect(path: str | Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with FULL sync, autocommit (explicit transactions)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the migrations not yet recorded in ``user_version``; return the new version."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(migrations):
                conn.execute("COMMIT")
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class SqliteSessionStore(DurableSessionStore):
    """A durable ``SessionStore`` with moods and the escalation rule, on SQLite."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        rule: EscalationRule | None = None,
        on_escalate: EscalationHook | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.rule = rule or EscalationRule.never()
        self.on_escalate = on_escalate
        self._lock = threading.Lock()
        try:
            self._conn = connect(self.path)
            migrate(self._conn)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open the session database {self.path}: {err}") from None

    # -- the SessionStore protocol -------------------------------------------------------

    def record_user(self, session_id: str, text: str, sentiment: Sentiment) -> SessionState:
        """Store a user message and its mood, apply the rule, commit; return the state."""
        check_session_id(session_id)
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._session_row(session_id, now)
                self._conn.execute(
                    "INSERT INTO messages (session_id, role, content, time, label, confidence)"
                    " VALUES (?, 'user', ?, ?, ?, ?)",
                    (session_id, text, now, sentiment.label, float(sentiment.confidence)),
                )
                state, reason = self._escalation(session_id, row, sentiment, now)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self._notify(session_id, reason)
        return state

    def record_reply(self, session_id: str, text: str) -> None:
        """Store the assistant's reply and commit."""
        check_session_id(session_id)
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._session_row(session_id, now)
                self._conn.execute(
                    "INSERT INTO messages (session_id, role, content, time)"
                    " VALUES (?, 'assistant', ?, ?)",
                    (session_id, text, now),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete(self, session_id: str) -> bool:
        """Forget a session and all its messages; False if there was none."""
        check_session_id(session_id)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                gone = self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return gone.rowcount > 0

    # -- extras for the routes, the CLI and the webhook ------------------------------------

    def messages(self, session_id: str, limit: int | None = None) -> list[dict]:
        """Turns as dicts ``{id, role, content, time, label, confidence}``, oldest first.

        With ``limit``, only the last ``limit`` turns.
        """
        check_session_id(session_id)
        sql = (
            "SELECT id, role, content, time, label, confidence FROM messages"
            " WHERE session_id = ? ORDER BY id DESC"
        )
        args: tuple = (session_id,)
        if limit is not None:
            sql += " LIMIT ?"
            args += (int(limit),)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [dict(r) for r in reversed(rows)]

    def info(self, session_id: str) -> dict | None:
        """The session's row (times, streak, escalation) or None if unknown."""
        check_session_id(session_id)
        with self._lock:
            row = self._conn.execute(
                "SELECT id, created, updated, negative_streak, escalated, escalation_reason,"
                " escalated_at FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["session_id"] = out.pop("id")
        out["escalated"] = bool(out["escalated"])
        return out

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # -- internals (called with the lock held, inside a transaction) ----------------------

    def _session_row(self, session_id: str, now: float) -> sqlite3.Row:
        self._conn.execute(
            "INSERT INTO sessions (id, created, updated) VALUES (?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET updated = excluded.updated",
            (session_id, now, now),
        )
        return self._conn.execute(
            "SELECT negative_streak, escalated FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()

    def _escalation(
        self, session_id: str, row: sqlite3.Row, sentiment: Sentiment, now: float
    ) -> tuple[SessionState, str | None]:
        streak, escalated, reason = self.escalation_step(row, sentiment)
        if reason is not None:
            self._conn.execute(
                "UPDATE sessions SET negative_streak = ?, escalated = 1,"
                " escalation_reason = ?, escalated_at = ? WHERE id = ?",
                (streak, reason, now, session_id),
            )
        else:
            self._conn.execute(
                "UPDATE sessions SET negative_streak = ? WHERE id = ?", (streak, session_id)
            )
        return SessionState(session_id, escalated, streak), reason
