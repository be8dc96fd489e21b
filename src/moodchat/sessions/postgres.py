"""Sessions every replica sees: the ``SessionStore`` protocol on PostgreSQL (psycopg 3).

Contract:
- ``PostgresSessionStore(url, rule=None, on_escalate=None, pool_size=4)`` connects to the
  PostgreSQL server at ``url`` (``postgresql://user:pass@host:port/db``) through a
  ``psycopg_pool.ConnectionPool``, brings the schema up to date and implements the same
  methods as ``SqliteSessionStore``: ``history``, ``record_user``, ``record_reply``,
  ``mood``, ``delete``, ``messages``, ``info``, ``summary``, ``close``. Needs the
  ``postgres`` extra (``pip install 'moodchat[postgres]'``); nothing imports this module
  unless a ``postgresql://`` URL is configured. What does not depend on the SQL (turns as
  messages and moods, the summary, the escalation decision, the hook) is
  ``moodchat.sessions.store.DurableSessionStore``, shared with the SQLite store.
- Every ``record_*`` call is one committed transaction before it returns (the server's
  default ``synchronous_commit = on``: the commit's WAL is flushed to disk), so a returned
  call is an acknowledged message that survives a kill of the client or the server. A
  call whose connection dies mid-transaction is rolled back by the server and raises
  ``StoreError``; the pool replaces the broken connection and the next call succeeds.
- ``record_user`` locks the session's row (``INSERT ... ON CONFLICT DO UPDATE`` takes
  the row lock) before reading its streak, so replicas writing the same session at once
  apply the escalation rule in a serial order, and the flag fires once.
- Migrations are an ordered list; the table ``moodchat_schema`` holds how many were
  applied. Each runs in its own transaction under a transaction-scoped advisory lock that
  re-reads the version first, so replicas starting at once apply it exactly once. Never
  edit a shipped migration; append one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from moodchat.sessions.escalation import EscalationRule
from moodchat.sessions.protocol import (
    EscalationHook,
    SessionState,
    check_session_id,
)
from moodchat.sessions.store import DurableSessionStore, StoreError
from moodchat.types import Sentiment

MIGRATION_LOCK = 0x6D6F6F64  # "mood": the advisory lock key migrations take
MIGRATIONS: list[list[str]] = [
    # 1: sessions with their escalation state; messages, a user message with its mood.
    [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            negative_streak INTEGER NOT NULL DEFAULT 0,
            escalated BOOLEAN NOT NULL DEFAULT FALSE,
            escalation_reason TEXT,
            escalated_at DOUBLE PRECISION
        )""",
        """CREATE TABLE messages (
            id BIGSERIAL PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            label TEXT,
            confidence DOUBLE PRECISION
        )""",
        "CREATE INDEX messages_by_session ON messages(session_id, id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the migrations not yet recorded in ``moodchat_schema``; the new version."""
    from psycopg.rows import tuple_row

    while True:
        with conn.transaction():
            cur = conn.cursor(row_factory=tuple_row)
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS moodchat_schema (version INTEGER NOT NULL)")
            row = cur.execute("SELECT version FROM moodchat_schema").fetchone()
            version = row[0] if row else 0
            if version >= len(migrations):
                return version
            for statement in migrations[version]:
                cur.execute(statement)
            cur.execute("DELETE FROM moodchat_schema")
            cur.execute("INSERT INTO moodchat_schema VALUES (%s)", (version + 1,))


class PostgresSessionStore(DurableSessionStore):
    """A durable ``SessionStore`` with moods and the escalation rule, on PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        rule: EscalationRule | None = None,
        on_escalate: EscalationHook | None = None,
        pool_size: int = 4,
        timeout_s: float = 10.0,
    ) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StoreError(
                "a postgresql:// database needs the postgres extra: "
                "pip install 'moodchat[postgres]'"
            ) from None
        self.url = url
        self._db_error = psycopg.Error
        self.rule = rule or EscalationRule.never()
        self.on_escalate = on_escalate
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=timeout_s, open=False,
            kwargs={"row_factory": dict_row}, check=ConnectionPool.check_connection,
        )  # fmt: skip
        try:
            self._pool.open(wait=True, timeout=timeout_s)
            with self._pool.connection() as conn:
                migrate(conn)
        except Exception as err:
            self._pool.close()
            raise StoreError(f"cannot open the session database {_safe(url)}: {err}") from None

    def _run(self, work):
        """``work(conn)`` in one transaction; a database failure becomes ``StoreError``."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                return work(conn)
        except self._db_error as err:
            raise StoreError(f"session database error: {err}") from None
        except TimeoutError as err:  # the pool had no connection within its timeout
            raise StoreError(f"session database unavailable: {err}") from None

    # -- the SessionStore protocol -------------------------------------------------------

    def record_user(self, session_id: str, text: str, sentiment: Sentiment) -> SessionState:
        """Store a user message and its mood, apply the rule, commit; return the state."""
        check_session_id(session_id)
        now = time.time()

        def work(conn):
            row = _session_row(conn, session_id, now)
            conn.execute(
                "INSERT INTO messages (session_id, role, content, time, label, confidence)"
                " VALUES (%s, 'user', %s, %s, %s, %s)",
                (session_id, text, now, sentiment.label, float(sentiment.confidence)),
            )
            return self._escalation(conn, session_id, row, sentiment, now)

        state, reason = self._run(work)
        self._notify(session_id, reason)
        return state

    def record_reply(self, session_id: str, text: str) -> None:
        """Store the assistant's reply and commit."""
        check_session_id(session_id)
        now = time.time()

        def work(conn):
            _session_row(conn, session_id, now)
            conn.execute(
                "INSERT INTO messages (session_id, role, content, time)"
                " VALUES (%s, 'assistant', %s, %s)",
                (session_id, text, now),
            )

        self._run(work)

    def delete(self, session_id: str) -> bool:
        """Forget a session and all its messages; False if there was none."""
        check_session_id(session_id)
        return self._run(
            lambda conn: (
                conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,)).rowcount > 0
            )
        )

    # -- extras for the routes, the CLI and the webhook ------------------------------------

    def messages(self, session_id: str, limit: int | None = None) -> list[dict]:
        """Turns as dicts ``{id, role, content, time, label, confidence}``, oldest first."""
        check_session_id(session_id)
        sql = (
            "SELECT id, role, content, time, label, confidence FROM messages"
            " WHERE session_id = %s ORDER BY id DESC"
        )
        args: tuple = (session_id,)
        if limit is not None:
            sql += " LIMIT %s"
            args += (int(limit),)
        rows = self._run(lambda conn: conn.execute(sql, args).fetchall())
        return [dict(r) for r in reversed(rows)]

    def info(self, session_id: str) -> dict | None:
        """The session's row (times, streak, escalation) or None if unknown."""
        check_session_id(session_id)
        row = self._run(
            lambda conn: conn.execute(
                "SELECT id, created, updated, negative_streak, escalated, escalation_reason,"
                " escalated_at FROM sessions WHERE id = %s",
                (session_id,),
            ).fetchone()
        )
        if row is None:
            return None
        out = dict(row)
        out["session_id"] = out.pop("id")
        return out

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close()

    def _escalation(self, conn, session_id: str, row: dict, sentiment: Sentiment, now: float):
        streak, escalated, reason = self.escalation_step(row, sentiment)
        if reason is not None:
            conn.execute(
                "UPDATE sessions SET negative_streak = %s, escalated = TRUE,"
                " escalation_reason = %s, escalated_at = %s WHERE id = %s",
                (streak, reason, now, session_id),
            )
        else:
            conn.execute(
                "UPDATE sessions SET negative_streak = %s WHERE id = %s", (streak, session_id)
            )
        return SessionState(session_id, escalated, streak), reason


def _session_row(conn, session_id: str, now: float) -> dict:
    """Create or touch the session's row, locked for this transaction; its state."""
    return conn.execute(
        "INSERT INTO sessions (id, created, updated) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET updated = EXCLUDED.updated"
        " RETURNING negative_streak, escalated",
        (session_id, now, now),
    ).fetchone()


def _safe(url: str) -> str:
    """``url`` without its password, for error messages."""
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"
