"""Session routes, escalation through /v1/chat, the webhook, metrics and the web page.

All through HTTP (Starlette's TestClient) with ``Assistant(FakeEngine())``: the fake
labels text negative unless it contains "happy".
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from fakes import FakeEngine
from moodchat.assistant import Assistant
from moodchat.server import ServerSettings, create_app
from moodchat.server.state import server_state
from moodchat.sessions.protocol import MemorySessionStore
from moodchat.sessions.store import SqliteSessionStore
from receiver import Receiver


def events(resp) -> list[tuple[str, dict]]:
    out = []
    for block in resp.text.split("\n\n"):
        kind = re.search(r"^event: (.+)$", block, re.M)
        data = re.search(r"^data: (.+)$", block, re.M)
        if kind and data:
            out.append((kind.group(1), json.loads(data.group(1))))
    return out


def say(client, sid: str, text: str, **headers) -> list[tuple[str, dict]]:
    resp = client.post(
        "/v1/chat", json={"message": text, "session_id": sid, "stream": True}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    return events(resp)


@pytest.fixture
def settings(tmp_path):
    return ServerSettings(db_path=str(tmp_path / "s.db"), escalate_after_negative=2)


@pytest.fixture
def client(settings):
    app = create_app(settings, assistant=Assistant(FakeEngine()))
    with TestClient(app) as c:
        yield c


def test_default_store_is_sqlite_at_the_configured_path(settings):
    app = create_app(settings, assistant=Assistant(FakeEngine()))
    assert isinstance(server_state(app).sessions, SqliteSessionStore)
    assert str(server_state(app).sessions.path) == settings.db_path
    server_state(app).sessions.close()


def test_session_and_mood_round_trip(client):
    evs = say(client, "web-1", "I am happy today")
    assert [k for k, _ in evs][:2] == ["sentiment", "token"] and evs[-1][0] == "done"
    assert evs[-1][1]["session_id"] == "web-1" and evs[-1][1]["escalated"] is False
    say(client, "web-1", "but the rain ruined my plans")
    view = client.get("/v1/sessions/web-1").json()
    assert view["session_id"] == "web-1" and view["escalated"] is False
    assert [(m["role"], (m["sentiment"] or {}).get("label")) for m in view["messages"]] == [
        ("user", "positive"),
        ("assistant", None),
        ("user", "negative"),
        ("assistant", None),
    ]
    assert view["messages"][1]["content"] == "我在，慢慢说。"
    assert all(m["time"] > 0 for m in view["messages"])
    mood = client.get("/v1/sessions/web-1/mood").json()
    assert [(p["label"], p["text"]) for p in mood] == [
        ("positive", "I am happy today"),
        ("negative", "but the rain ruined my plans"),
    ]
    assert set(mood[0]) == {"time", "label", "confidence", "text"}
    assert 0.5 <= mood[0]["confidence"] <= 1


def test_delete_and_not_found(client):
    say(client, "gone", "hello")
    assert client.delete("/v1/sessions/gone").status_code == 204
    for path in ("/v1/sessions/gone", "/v1/sessions/gone/mood"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "session_not_found"
    assert client.delete("/v1/sessions/gone").status_code == 404


def test_invalid_session_id_is_422(client):
    resp = client.get("/v1/sessions/" + "x" * 129)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_session_id"


def test_escalation_reaches_done_session_webhook_and_metrics(tmp_path):
    with Receiver([500, 200]) as rx:
        settings = ServerSettings(
            db_path=str(tmp_path / "e.db"), escalate_after_negative=2, webhook_url=rx.url
        )
        app = create_app(settings, assistant=Assistant(FakeEngine()))
        with TestClient(app) as client:
            assert say(client, "cust", "where is my parcel")[-1][1]["escalated"] is False
            assert say(client, "cust", "still nothing, awful")[-1][1]["escalated"] is True
            assert server_state(app).webhook.flush(10)
            view = client.get("/v1/sessions/cust").json()
            metrics = client.get("/metrics").text
    assert view["escalated"] is True
    assert view["escalation_reason"] == "2 negative messages in a row (threshold 2)"
    [summary] = rx.delivered()
    assert summary["session_id"] == "cust" and summary["reason"] == view["escalation_reason"]
    assert [m["content"] for m in summary["messages"]][-1] == "still nothing, awful"
    assert "moodchat_escalations_total 1.0" in metrics
    assert 'moodchat_webhook_deliveries_total{outcome="sent"} 1.0' in metrics
    assert "moodchat_webhook_retries_total 1.0" in metrics


def test_confidence_rule_escalates_on_one_message(tmp_path):
    settings = ServerSettings(
        db_path=str(tmp_path / "c.db"), escalate_after_negative=0, escalate_confidence=0.5
    )
    with TestClient(create_app(settings, assistant=Assistant(FakeEngine()))) as client:
        assert say(client, "one", "this is terrible")[-1][1]["escalated"] is True


def test_routes_work_with_a_plain_memory_store(settings):
    app = create_app(settings, assistant=Assistant(FakeEngine()), sessions=MemorySessionStore())
    with TestClient(app) as client:
        say(client, "m", "so happy")
        view = client.get("/v1/sessions/m").json()
        assert view["messages"][0]["sentiment"]["label"] == "positive"
        assert view["messages"][1]["sentiment"] is None
        assert client.get("/v1/sessions/m/mood").json()[0]["text"] == "so happy"


def test_page_is_public_and_self_contained_but_the_api_needs_the_key(tmp_path):
    settings = ServerSettings(db_path=str(tmp_path / "k.db"), api_key="sekret")
    with TestClient(create_app(settings, assistant=Assistant(FakeEngine()))) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        bodies = [page.text]
        for name in ("app.js", "style.css"):
            asset = client.get(f"/static/{name}")
            assert asset.status_code == 200
            bodies.append(asset.text)
        assert client.get("/v1/sessions/x").status_code == 401
        auth = {"Authorization": "Bearer sekret"}
        assert client.get("/v1/sessions/x", headers=auth).status_code == 404
        for path in ("/static/nope.js", "/static/..%2Fstore.py", "/static/../server/app.py"):
            assert client.get(path).status_code == 401  # not public
            assert client.get(path, headers=auth).status_code == 404
    for body in bodies:  # nothing fetched from another origin (the SVG namespace is a name)
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+", body))
        assert urls <= {"http://www.w3.org"}, urls


def test_two_replicas_on_one_postgres_database_see_the_same_sessions(postgres):
    from moodchat.sessions.postgres import PostgresSessionStore

    url = postgres.new_database()
    settings = ServerSettings(database_url=url, escalate_after_negative=2)
    a = create_app(settings, assistant=Assistant(FakeEngine()))
    b = create_app(settings, assistant=Assistant(FakeEngine()))
    assert isinstance(server_state(a).sessions, PostgresSessionStore)
    with TestClient(a) as ca, TestClient(b) as cb:
        assert say(ca, "shared-1", "my parcel is late")[-1][1]["escalated"] is False
        assert say(cb, "shared-1", "still nothing")[-1][1]["escalated"] is True  # one streak
        seen = cb.get("/v1/sessions/shared-1").json()
        assert [m["content"] for m in seen["messages"]][::2] == [
            "my parcel is late",
            "still nothing",
        ]
        assert (
            ca.get("/v1/sessions/shared-1/mood").json()
            == cb.get("/v1/sessions/shared-1/mood").json()
        )
        assert cb.delete("/v1/sessions/shared-1").status_code == 204
        assert ca.get("/v1/sessions/shared-1").status_code == 404


def test_a_database_url_that_is_not_postgresql_is_refused():
    from moodchat.sessions.store import StoreError

    with pytest.raises(StoreError, match="postgresql://"):
        create_app(ServerSettings(database_url="mysql://x/y"), assistant=Assistant(FakeEngine()))


def test_a_lost_postgres_connection_is_a_json_503_and_the_next_request_works(postgres):
    import psycopg

    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    app = create_app(ServerSettings(database_url=url), assistant=Assistant(FakeEngine()))
    with TestClient(app) as client, psycopg.connect(postgres.url(), autocommit=True) as admin:
        say(client, "pg-down", "hello there")
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        resp = client.get("/v1/sessions/pg-down")
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "store_error"
        assert "Retry-After" in resp.headers
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert client.get("/v1/sessions/pg-down").status_code == 200
        assert say(client, "pg-down", "back again")[-1][0] == "done"
        assert len(client.get("/v1/sessions/pg-down").json()["messages"]) == 4
