"""PostgresSessionStore on a real PostgreSQL server: migrations, errors, killed
connections, and kill -9 of the writer and of the server (nothing acknowledged lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest

from moodchat.sessions.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresSessionStore, migrate
from moodchat.sessions.store import StoreError
from moodchat.types import Message, Sentiment

NEG = Sentiment("negative", 0.8)


def test_fresh_database_is_migrated_once_even_by_stores_opening_at_once(postgres):
    url = postgres.new_database()
    errors = []

    def open_close():
        try:
            PostgresSessionStore(url).close()
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM moodchat_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert migrate(conn) == SCHEMA_VERSION == len(MIGRATIONS)
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'"
        )}  # fmt: skip
    assert {"negative_streak", "escalated", "escalation_reason", "escalated_at"} <= cols


def test_unreachable_server_is_a_clear_error_without_the_password(postgres):
    url = f"postgresql://postgres:s3cret@127.0.0.1:{postgres.port + 1}/nope"
    with pytest.raises(StoreError) as err:
        PostgresSessionStore(url, timeout_s=1.0)
    assert "cannot open the session database" in str(err.value)
    assert "s3cret" not in str(err.value)


def _backend_waiting_on_a_lock(url: str, timeout: float = 10.0) -> int:
    deadline = time.time() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.time() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    raise AssertionError("the store's request never waited on the lock")


def test_connection_killed_mid_request_fails_cleanly_and_the_next_request_succeeds(postgres):
    url = postgres.new_database()
    store = PostgresSessionStore(url)
    store.record_user("k", "first", NEG)
    blocker = psycopg.connect(url)
    blocker.execute("SELECT 1 FROM sessions WHERE id = 'k' FOR UPDATE")  # holds the row lock
    outcome = {}

    def request():
        try:
            store.record_user("k", "in flight", NEG)
            outcome["ok"] = True
        except StoreError as err:
            outcome["error"] = err

    thread = threading.Thread(target=request)
    thread.start()
    pid = _backend_waiting_on_a_lock(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    thread.join(30)
    blocker.rollback()
    blocker.close()
    assert "error" in outcome and "session database" in str(outcome["error"])
    state = store.record_user("k", "after", NEG)  # a fresh pooled connection
    assert state.negative_streak == 2  # the killed request was never acknowledged
    assert [m.content for m in store.history("k")] == ["first", "after"]
    store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from moodchat.sessions.postgres import PostgresSessionStore
    from moodchat.types import Sentiment

    store = PostgresSessionStore(sys.argv[1])
    n = 0
    while True:
        store.record_user("crash", f"message {n}", Sentiment("negative", 0.6))
        print(f"ack {n}", flush=True)
        n += 1
        store.record_reply("crash", f"reply {n - 1}")
        print(f"ack {n}", flush=True)
        n += 1
    """
)


def _write_until(url: str, n_acks: int) -> tuple[subprocess.Popen, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    acked = -1
    for line in child.stdout:
        acked = int(line.split()[1])
        if acked >= n_acks:
            break
    return child, acked


def _assert_acknowledged(url: str, acked: int) -> None:
    with PostgresSessionStore(url) as store:
        history = store.history("crash")
    assert len(history) >= acked + 1
    for n in range(acked + 1):
        want = (
            Message("user", f"message {n}")
            if n % 2 == 0
            else Message("assistant", f"reply {n - 1}")
        )
        assert history[n] == want


def test_kill_9_of_the_writer_loses_no_acknowledged_message(postgres):
    url = postgres.new_database()
    child, acked = _write_until(url, 60)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL and acked >= 60
    _assert_acknowledged(url, acked)


def test_kill_9_of_the_database_server_loses_no_acknowledged_message(postgres):
    url = postgres.new_database()
    child, acked = _write_until(url, 60)
    postgres.kill9()  # the server crashes mid-stream: the writer's next call fails
    try:
        rest = child.communicate(timeout=30)[0]
    finally:
        child.kill()
    acked = max([acked] + [int(x.split()[1]) for x in rest.splitlines() if x.startswith("ack")])
    assert child.returncode != 0  # it died on the lost connection, with an error
    postgres.start()  # crash recovery replays the WAL
    _assert_acknowledged(url, acked)
