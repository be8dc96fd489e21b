"""Acceptance: kill -9 the server during a conversation, restart it, nothing acknowledged is lost.

A real uvicorn server runs in a child process (fake, slowed-down engine; SQLite store in a
temp file). A user message is acknowledged when its ``sentiment`` event arrives (the
server stores it before sending that event) and a reply when ``done`` arrives. The test
holds a few full turns, SIGKILLs the server in the middle of the next reply, starts a new
server on the same database, and checks every acknowledged message and mood through
``GET /v1/sessions/{id}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from live import free_port

TESTS = Path(__file__).resolve().parent.parent

SERVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    import uvicorn
    from fakes import SlowEngine
    from moodchat.assistant import Assistant
    from moodchat.server import ServerSettings, create_app
    from moodchat.server.settings import UVICORN_IO

    reply = "I hear you. Tell me more about what happened today; I am listening."
    settings = ServerSettings(db_path=sys.argv[1], escalate_after_negative=0)
    app = create_app(settings, assistant=Assistant(SlowEngine(reply=reply)))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", **UVICORN_IO)
    """
)


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(db), str(port), str(TESTS)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited during startup"
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not become ready")


def stream_chat(base: str, text: str, max_tokens: int | None = None):
    """Yield (event, data) from a streamed chat in session 'crash'."""
    body = {"message": text, "session_id": "crash", "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    with httpx.stream("POST", base + "/v1/chat", json=body, timeout=30) as resp:
        assert resp.status_code == 200
        kind = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                yield kind, json.loads(line[6:])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_reply_then_restart_keeps_every_acknowledged_message(tmp_path):
    db = tmp_path / "server.db"
    texts = ["I am happy with the new job", "my cat is sick", "happy the vet helped", "I'm tired"]
    acked: list[tuple[str, str, str | None]] = []  # (role, content, sentiment label)
    proc, base = start_server(db)
    try:
        for text in texts[:3]:
            for kind, data in stream_chat(base, text, max_tokens=8):
                if kind == "sentiment":
                    acked.append(("user", text, data["label"]))
                elif kind == "done":
                    acked.append(("assistant", data["reply"], None))
        for kind, data in stream_chat(base, texts[3]):
            if kind == "sentiment":
                acked.append(("user", texts[3], data["label"]))
            elif kind == "token":
                os.kill(proc.pid, signal.SIGKILL)  # mid-reply
                break
    except httpx.HTTPError:
        pass  # the connection dies with the server
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) == 7

    proc, base = start_server(db)
    try:
        view = httpx.get(base + "/v1/sessions/crash", timeout=10).json()
        mood = httpx.get(base + "/v1/sessions/crash/mood", timeout=10).json()
    finally:
        proc.terminate()
        proc.wait(10)
    stored = [
        (m["role"], m["content"], (m["sentiment"] or {}).get("label")) for m in view["messages"]
    ]
    assert stored[: len(acked)] == acked
    assert [(p["text"], p["label"]) for p in mood] == [
        (t, lab) for r, t, lab in acked if r == "user"
    ]
    assert [lab for _, _, lab in acked if lab] == ["positive", "negative", "positive", "negative"]
