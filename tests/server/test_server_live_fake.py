"""A real uvicorn server (real sockets) on slow fake engines: disconnects, timeouts, load,
and 16 requests at once against 2 parallel replies."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from fakes import CoalescingFakeEngine, SlowEngine
from live import fake_app, live_server, read_token_events, sse_events, wait_until
from moodchat.server.state import server_state


def test_disconnect_stops_generation_within_a_token_or_two():
    engine = SlowEngine(delay=0.05, reply="y" * 400)
    app = fake_app(engine)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        body = {"message": "tell me everything", "stream": True, "max_tokens": 400}
        with c.stream("POST", "/v1/chat", json=body) as r:
            read_token_events(r, 3)
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
    app = fake_app(engine, parallel=1, max_queue=1, max_sentiment_queue=2)

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


class CountingEngine(SlowEngine):
    """A slow fake engine that records the most generations it ran at once."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._guard = threading.Lock()
        self.running = self.peak = 0

    def generate(self, *args, **kwargs):
        with self._guard:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield from super().generate(*args, **kwargs)
        finally:
            with self._guard:
                self.running -= 1


def test_16_requests_with_parallel_2_all_finish_or_get_a_clean_429():
    engine = CountingEngine(delay=0.02, reply="v" * 40)
    app = fake_app(engine, parallel=2, max_queue=4, retry_after_s=3)

    def one(i: int, url: str) -> tuple[int, str | None, str]:
        body = {"message": f"hi {i}", "stream": i % 2 == 0}
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post("/v1/chat", json=body)
            return r.status_code, r.headers.get("retry-after"), r.text

    with live_server(app) as url, ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one, i, url) for i in range(16)]
        results = [f.result(timeout=60) for f in futures]  # a deadlock fails here
    statuses = [status for status, _, _ in results]
    assert set(statuses) == {200, 429}, statuses
    for i, (status, retry_after, text) in enumerate(results):
        if status == 429:
            assert retry_after == "3" and json.loads(text)["error"]["code"] == "queue_full"
        elif i % 2 == 0:
            assert sse_events(text)[-1][0] == "done"
        else:
            assert json.loads(text)["reply"]
    assert engine.peak == 2 and engine.running == 0
    assert server_state(app).gates["chat"].active == 0


def test_sentiment_requests_that_arrive_together_share_scoring_passes():
    engine = CoalescingFakeEngine(decode_delay=0.1)
    app = fake_app(engine)  # the default sentiment gate lets 4 requests reach the model
    texts = [f"{'happy' if i % 2 else 'sad'} day {i}" for i in range(8)]

    def one(text: str, url: str) -> dict:
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post("/v1/sentiment", json={"text": text})
            assert r.status_code == 200
            return r.json()["results"][0]

    with live_server(app) as url, ThreadPoolExecutor(8) as pool:
        before = engine.decodes
        answers = [f.result(timeout=60) for f in [pool.submit(one, t, url) for t in texts]]
        passes = engine.decodes - before
    assert [a["label"] for a in answers] == ["negative", "positive"] * 4
    assert passes < len(texts)  # alone, every request would be one pass
    assert max(engine.scorer.batch_sizes) > 1
