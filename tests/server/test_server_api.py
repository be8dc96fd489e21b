"""The native API on a fake assistant: shapes, SSE order and framing, sessions, errors."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from conftest import fake_app, sse_events
from fakes import FakeEngine
from moodchat.server import ServerSettings, create_app
from moodchat.server.state import server_state
from moodchat.sessions.protocol import MemorySessionStore


def error_of(r) -> dict:
    body = r.json()
    assert set(body) == {"error"}
    assert {"message", "type", "code"} <= set(body["error"])
    return body["error"]


def test_sentiment_one_and_many_in_order(client):
    one = client.post("/v1/sentiment", json={"text": "I am happy"}).json()
    assert one["results"][0]["label"] == "positive"
    assert 0.5 < one["results"][0]["confidence"] <= 1
    many = client.post("/v1/sentiment", json={"texts": ["sad", "so happy", "meh"]}).json()
    assert [r["label"] for r in many["results"]] == ["negative", "positive", "negative"]


def test_sentiment_needs_exactly_one_field(client):
    for body in ({}, {"text": "a", "texts": ["b"]}, {"texts": []}):
        r = client.post("/v1/sentiment", json=body)
        assert r.status_code == 422, body
        error_of(r)


def test_sentiment_limits(make_app):
    with TestClient(make_app(max_text_chars=10, max_batch_texts=2)) as c:
        r = c.post("/v1/sentiment", json={"text": "x" * 11})
        assert r.status_code == 422 and "too long" in error_of(r)["message"]
        r = c.post("/v1/sentiment", json={"texts": ["a", "b", "c"]})
        assert r.status_code == 422 and error_of(r)["code"] == "invalid_batch"


def test_bad_texts_are_422_not_5xx(client):
    for text in ("", "   ", "\\ud800", "\\u0000"):
        body = f'{{"text": "{text}"}}'  # JSON escapes: a lone surrogate, a NUL
        r = client.post("/v1/sentiment", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, text
        assert error_of(r)["code"] == "invalid_input"


def test_chat_json(client):
    r = client.post("/v1/chat", json={"message": "I am happy today"})
    body = r.json()
    assert r.status_code == 200
    assert body["sentiment"]["label"] == "positive"
    assert body["reply"] == "我在，慢慢说。"
    assert body["finish_reason"] == "stop"
    assert body["completion_tokens"] > 0 and "total_ms" in body["timings_ms"]


def test_chat_sse_order_and_whole_characters(client):
    r = client.post("/v1/chat", json={"message": "hello", "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    events = sse_events(r.text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "sentiment" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    pieces = [json.loads(d)["text"] for e, d in events if e == "token"]
    # the fake splits every CJK character over three byte tokens: deltas stay whole
    assert pieces == list("我在，慢慢说。")
    done = json.loads(events[-1][1])
    assert done["reply"] == "".join(pieces)
    assert json.loads(events[0][1])["label"] in ("positive", "negative")


def test_sse_data_lines_never_break_on_newlines(make_app):
    with TestClient(make_app(FakeEngine(reply="line one\n\nline two"))) as c:
        r = c.post("/v1/chat", json={"message": "hi", "stream": True})
    events = sse_events(r.text)
    text = "".join(json.loads(d)["text"] for e, d in events if e == "token")
    assert text == "line one\n\nline two"


def test_chat_history_is_validated(client):
    ok = {
        "message": "hi",
        "history": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
    }
    assert client.post("/v1/chat", json=ok).status_code == 200
    for history in (
        [{"role": "system", "content": "x"}],
        [{"role": "user", "content": ""}],
        [{"role": "user"}],
        "not a list",
    ):
        r = client.post("/v1/chat", json={"message": "hi", "history": history})
        assert r.status_code == 422, history
        error_of(r)


def test_sessions_record_both_turns_and_report_state(make_app):
    app = make_app()
    with TestClient(app) as c:
        first = c.post("/v1/chat", json={"message": "so sad", "session_id": "s-1"}).json()
        assert first["session_id"] == "s-1" and first["escalated"] is False
        r = c.post("/v1/chat", json={"message": "again", "session_id": "s-1", "stream": True})
        done = json.loads(sse_events(r.text)[-1][1])
        assert done["session_id"] == "s-1" and "escalated" in done
    turns = server_state(app).sessions.history("s-1")
    assert [m.role for m in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0].content == "so sad"


def test_session_and_history_together_are_refused(client):
    r = client.post(
        "/v1/chat",
        json={"message": "hi", "session_id": "a", "history": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 422 and error_of(r)["code"] == "history_with_session"
    r = client.post("/v1/chat", json={"message": "hi", "session_id": "bad id!"})
    assert r.status_code == 422


def test_a_custom_session_store_is_used():
    store = MemorySessionStore()
    from moodchat import Assistant

    app = create_app(ServerSettings(), assistant=Assistant(FakeEngine()), sessions=store)
    with TestClient(app) as c:
        c.post("/v1/chat", json={"message": "hi", "session_id": "z"})
    assert len(store.history("z")) == 2


def test_max_tokens_is_capped(make_app):
    with TestClient(make_app(max_tokens=3)) as c:
        body = c.post("/v1/chat", json={"message": "hi", "max_tokens": 1000}).json()
    assert body["completion_tokens"] == 3 and body["finish_reason"] == "length"


def test_malformed_bodies_are_4xx_with_error_json(client):
    cases = {
        b"": 422,
        b"{": 400,
        b"\xff\xfe\x00{": 400,
        b'{"message": "\xc3\x28"}': 400,  # invalid UTF-8 inside a string
        b"[]": 422,
        b'"text"': 422,
        b'{"message": 5}': 422,
        b'{"message": "hi", "stream": "maybe"}': 422,
        b'{"message": "hi", "unknown": 1}': 422,
        b"null": 422,
    }
    for body, status in cases.items():
        r = client.post("/v1/chat", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, (body, r.text)
        error_of(r)


def test_body_limit_declared_and_chunked(make_app):
    with TestClient(make_app(max_body_bytes=2048)) as c:
        big = json.dumps({"text": "x" * 4096})
        r = c.post("/v1/sentiment", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and error_of(r)["code"] == "body_too_large"
        chunks = (b"x" * 1024 for _ in range(4))  # no Content-Length: chunked
        r = c.post("/v1/sentiment", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.get("/healthz").status_code == 200


def test_one_megabyte_text_is_refused(client):
    r = client.post("/v1/sentiment", json={"text": "é" * (1 << 20)})
    assert r.status_code == 413
    error_of(r)


def test_unknown_path_and_method_use_error_shape(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get("/v1/sentiment")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


def test_api_key(make_app):
    with TestClient(make_app(api_key="s3cret")) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/v1/models", "/metrics", "/openapi.json"):
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert error_of(r)["type"] == "authentication_error"
        r = c.post("/v1/sentiment", json={"text": "hi"}, headers={"Authorization": "Bearer no"})
        assert r.status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert c.post("/v1/sentiment", json={"text": "hi"}, headers=ok).status_code == 200
        spec = c.get("/openapi.json", headers=ok).json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_loading_model_gives_503_with_retry_after():
    app = create_app(ServerSettings(model="/nonexistent.gguf"), sessions=MemorySessionStore())
    client = TestClient(app)  # no lifespan: the model never starts loading
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "loading"
    assert r.headers["retry-after"]
    r = client.post("/v1/sentiment", json={"text": "hi"})
    assert r.status_code == 503 and error_of(r)["code"] == "model_loading"
    assert r.headers["retry-after"]


def test_failed_load_is_reported_and_server_stays_up(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    app = create_app(ServerSettings(model=str(bad), auto_pull=False), sessions=MemorySessionStore())
    with TestClient(app) as c:
        from conftest import wait_until

        assert wait_until(lambda: c.get("/healthz").json()["status"] == "failed")
        r = c.get("/healthz")
        assert r.status_code == 503 and "GGUF" in r.json()["error"]
        assert c.post("/v1/chat", json={"message": "hi"}).status_code == 503


def test_metrics_exposition(client):
    client.post("/v1/sentiment", json={"text": "happy"})
    client.post("/v1/chat", json={"message": "hi"})
    text = client.get("/metrics").text
    for name in (
        "moodchat_requests_total",
        "moodchat_request_seconds_bucket",
        "moodchat_queue_depth",
        "moodchat_tokens_generated_total",
        "process_resident_memory_bytes",
        "moodchat_model_ready 1.0",
    ):
        assert name in text, name
    assert 'moodchat_requests_total{route="/v1/sentiment",status="200"} 1.0' in text
    assert 'role="sentiment"' in text and 'role="chat"' in text


def test_two_apps_have_separate_metrics():
    a, b = fake_app(), fake_app()
    with TestClient(a) as ca, TestClient(b) as cb:
        ca.post("/v1/sentiment", json={"text": "x"})
        assert 'route="/v1/sentiment"' not in cb.get("/metrics").text
