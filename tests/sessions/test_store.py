"""Session stores: SQLite's schema migrations; then, on SQLite and PostgreSQL alike (the
``make_store`` fixture), round trips across a reopen, escalation state, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from moodchat.errors import InputError
from moodchat.sessions.escalation import EscalationRule
from moodchat.sessions.protocol import MemorySessionStore, MoodPoint, SessionStore
from moodchat.sessions.store import MIGRATIONS, SCHEMA_VERSION, SqliteSessionStore, connect, migrate
from moodchat.types import Message, Sentiment

NEG = Sentiment("negative", 0.8)
POS = Sentiment("positive", 0.9)


@pytest.fixture
def store(make_store):
    return make_store()


def test_fresh_database_is_migrated_to_the_latest_version_in_wal_mode(tmp_path):
    path = tmp_path / "new" / "moodchat.db"
    SqliteSessionStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
    assert {"negative_streak", "escalated", "escalation_reason", "escalated_at"} <= cols


def test_migration_from_the_previous_version_keeps_data_and_backfills_the_streak(tmp_path):
    path = tmp_path / "old.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:-1]) == SCHEMA_VERSION - 1
    rows = [("user", "fine", "positive"), ("assistant", "good", None)]
    rows += [("user", "bad", "negative"), ("user", "worse", "negative")]
    conn.execute("INSERT INTO sessions (id, created, updated) VALUES ('old', 1, 1)")
    for i, (role, text, label) in enumerate(rows):
        conn.execute(
            "INSERT INTO messages (session_id, role, content, time, label, confidence)"
            " VALUES ('old', ?, ?, ?, ?, ?)",
            (role, text, 10.0 + i, label, 0.7 if label else None),
        )
    conn.close()
    with SqliteSessionStore(path, rule=EscalationRule(after_negative=3)) as s:
        assert [m.content for m in s.history("old")] == ["fine", "good", "bad", "worse"]
        assert s.info("old")["negative_streak"] == 2
        assert s.record_user("old", "awful", NEG).escalated  # third negative in a row
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_migrating_twice_is_a_no_op(tmp_path):
    path = tmp_path / "m.db"
    conn = connect(path)
    assert migrate(conn) == SCHEMA_VERSION
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()


def test_history_and_mood_round_trip_across_reopen(make_store):
    with make_store() as s:
        protocol: SessionStore = s  # the static check; at run time, the method names
        assert all(callable(getattr(protocol, n)) for n in SessionStore.__dict__ if n[0] != "_")
        state = s.record_user("a-1", "I lost my keys", NEG)
        assert (state.session_id, state.escalated, state.negative_streak) == ("a-1", False, 1)
        s.record_reply("a-1", "That sounds stressful.")
        s.record_user("a-1", "found them, happy", POS)
    with make_store() as s:
        assert s.history("a-1") == [
            Message("user", "I lost my keys"),
            Message("assistant", "That sounds stressful."),
            Message("user", "found them, happy"),
        ]
        mood = s.mood("a-1")
        assert [(p.label, p.confidence, p.text) for p in mood] == [
            ("negative", 0.8, "I lost my keys"),
            ("positive", 0.9, "found them, happy"),
        ]
        assert all(isinstance(p, MoodPoint) for p in mood)
        assert mood[0].time <= mood[1].time
        assert s.info("a-1")["negative_streak"] == 0
        assert s.history("unknown") == [] and s.mood("unknown") == []
        assert s.info("unknown") is None


def test_same_behaviour_as_the_memory_store(store):
    mem = MemorySessionStore()
    for s in (store, mem):
        s.record_user("x", "one", NEG)
        s.record_reply("x", "r1")
        s.record_user("x", "two", NEG)
    assert store.history("x") == mem.history("x")

    def moods(s):
        return [(p.label, p.confidence, p.text) for p in s.mood("x")]

    assert moods(store) == moods(mem)


def test_delete_forgets_the_session_only(store):
    store.record_user("gone", "hello", POS)
    store.record_reply("gone", "hi")
    store.record_user("kept", "hello", POS)
    assert store.delete("gone") is True
    assert store.history("gone") == [] and store.mood("gone") == []
    assert store.delete("gone") is False
    assert len(store.history("kept")) == 1


def test_invalid_session_ids_are_refused(store):
    for bad in ("", "a b", "x" * 129, "../etc"):
        with pytest.raises(InputError):
            store.record_user(bad, "hi", POS)
        with pytest.raises(InputError):
            store.history(bad)


def test_escalation_is_stored_sticky_and_hooked_once(make_store):
    seen = []
    with make_store(rule=EscalationRule(2), on_escalate=seen.append) as s:
        assert not s.record_user("c", "bad", NEG).escalated
        assert s.record_user("c", "worse", NEG).escalated
        assert s.record_user("c", "ok now", POS).escalated  # sticky
        s.record_user("c", "bad again", NEG)
        s.record_user("c", "bad again", NEG)
    assert len(seen) == 1
    summary = seen[0]
    assert summary["session_id"] == "c" and summary["event"] == "session.escalated"
    assert "2 negative messages in a row" in summary["reason"]
    assert [m["content"] for m in summary["messages"]] == ["bad", "worse"]
    assert summary["messages"][1]["label"] == "negative"
    with make_store() as s:
        info = s.info("c")
        assert info["escalated"] is True and info["escalation_reason"] == summary["reason"]


def test_a_failing_hook_does_not_lose_the_message(store):
    def boom(summary):
        raise RuntimeError("hook down")

    store.rule = EscalationRule(confidence=0.5)
    store.on_escalate = boom
    assert store.record_user("h", "terrible", NEG).escalated
    assert store.history("h") == [Message("user", "terrible")]


def test_concurrent_writers_threads_and_two_connections(make_store):
    a, b = make_store(), make_store()
    errors = []

    def write(s, name):
        try:
            for i in range(25):
                s.record_user(name, f"{name} {i}", POS if i % 2 else NEG)
                s.record_reply(name, f"reply {i}")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(a if k % 2 else b, f"s{k}")) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(6):
        hist = a.history(f"s{k}")
        assert len(hist) == 50
        assert [m.content for m in hist[::2]] == [f"s{k} {i}" for i in range(25)]
        assert len(b.mood(f"s{k}")) == 25


def test_two_stores_on_one_session_keep_one_streak_and_escalate_once(make_store):
    seen = []
    a = make_store(rule=EscalationRule(after_negative=5), on_escalate=seen.append)
    b = make_store(rule=EscalationRule(after_negative=5), on_escalate=seen.append)

    def write(s, name):
        for i in range(20):
            s.record_user("shared", f"{name} {i}", NEG)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert a.info("shared")["negative_streak"] == 40
    assert len(seen) == 1 and b.info("shared")["escalated"] is True
