"""kill -9 durability: every message a store acknowledged is there after a restart.

A child process records a conversation as fast as it can and prints ``ack <n>`` after each
``record_user`` / ``record_reply`` returns (= acknowledged). The test SIGKILLs it in the
middle of the stream, reopens the database and checks every acknowledged turn and mood.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from moodchat.sessions.store import SqliteSessionStore

WRITER = textwrap.dedent(
    """
    import sys
    from moodchat.sessions.store import SqliteSessionStore
    from moodchat.types import Sentiment

    store = SqliteSessionStore(sys.argv[1])
    n = 0
    while True:
        label = "negative" if n % 3 else "positive"
        store.record_user("crash", f"message {n}", Sentiment(label, 0.5 + (n % 5) / 10))
        print(f"ack {n}", flush=True)
        n += 1
        store.record_reply("crash", f"reply {n - 1}")
        print(f"ack {n}", flush=True)
        n += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_conversation_loses_no_acknowledged_message(tmp_path):
    db = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acked = -1
    try:
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= 60:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert acked >= 60, "the writer died before acknowledging enough messages"

    with SqliteSessionStore(db) as store:
        history = store.history("crash")
        mood = store.mood("crash")
    assert len(history) >= acked + 1  # maybe one more, committed but not yet printed
    for n in range(acked + 1):
        turn = history[n]
        if n % 2 == 0:
            assert (turn.role, turn.content) == ("user", f"message {n}")
        else:
            assert (turn.role, turn.content) == ("assistant", f"reply {n - 1}")
    acked_users = [n for n in range(acked + 1) if n % 2 == 0]
    for point, n in zip(mood, acked_users):
        assert point.text == f"message {n}"
        assert point.label == ("negative" if n % 3 else "positive")
        assert point.confidence == pytest.approx(0.5 + (n % 5) / 10)
    assert len(mood) >= len(acked_users)
