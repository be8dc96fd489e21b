"""A real uvicorn server (real sockets) on slow fake engines: disconnects, timeouts, load."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from conftest import SlowEngine, fake_app, live_server, sse_events, wait_until
from moodchat.server.state import server_state


def test_disconnect_stops_generation_within_a_token_or_two():
    engine = SlowEngine(delay=0.05, reply="y" * 400)
    app = fake_app(engine)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        body = {"message": "tell me everything", "stream": True, "max_tokens": 400}
        with c.stream("POST", "/v1/chat", json=body) as r:
            seen = 0
            for line in r.iter_lines():
                seen += line.startswith("event: token")
                if seen == 3:
                    break
            at_close = len(engine.generated)
        assert wait_until(lambda: engine.closed_generations == 1)
        assert wait_until(lambda: server_state(app).gates["chat"].active == 0)
        stopped_at = len(engine.generated)
        assert stopped_at - at_close <= 3, (at_close, stopped_at)
        assert stopped_at < 20  # of 400 scripted tokens
        metrics = c.get("/metrics").text
        assert 'moodchat_generations_cancelled_total{reason="disconnect"} 1.0' in metrics
        assert c.get("/healthz").status_code == 200


def test_timeout_mid_stream_ends_with_an_error_event_and_stops():
    engine = SlowEngine(delay=0.05, reply="z" * 400)
    app = fake_app(engine, request_timeout_s=0.5)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/chat", json={"message": "hi", "stream": True, "max_tokens": 400})
        events = sse_events(r.text)
        assert events[0][0] == "sentiment" and events[-1][0] == "error"
        assert json.loads(events[-1][1])["error"]["code"] == "timeout"
        assert wait_until(lambda: engine.closed_generations == 1)
        assert len(engine.generated) < 400
        r = c.post("/v1/chat", json={"message": "hi", "max_tokens": 400})
        assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"


def test_concurrent_clients_get_answers_or_clean_refusals():
    engine = SlowEngine(delay=0.01, reply="w" * 30)
    app = fake_app(engine, max_concurrency=1, max_queue=1, max_sentiment_queue=2)

    def one(i: int, url: str) -> int:
        with httpx.Client(base_url=url, timeout=30) as c:
            if i % 2:
                return c.post("/v1/sentiment", json={"text": f"happy {i}"}).status_code
            return c.post("/v1/chat", json={"message": f"hi {i}", "stream": i % 4 == 0}).status_code

    with live_server(app) as url, ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda i: one(i, url), range(48)))
        assert set(statuses) <= {200, 429, 503}, statuses
        assert 200 in statuses
        assert httpx.get(url + "/healthz").status_code == 200
    assert (
        server_state(app).gates["chat"].active == 0
        and server_state(app).gates["sentiment"].active == 0
    )
