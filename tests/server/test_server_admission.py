"""Admission control: the Gate's queue semantics, and 429/503 answers over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from moodchat.server.admission import Gate
from moodchat.server.errors import ApiError
from moodchat.server.state import server_state


def run(coro):
    return asyncio.run(coro)


def test_free_slot_is_taken_at_once_and_released():
    async def main():
        gate = Gate("chat", limit=2, queue=0, retry_after=3)
        async with gate.enter(1), gate.enter(1):
            assert gate.active == 2
        assert gate.active == 0

    run(main())


def test_full_queue_refuses_at_once_with_429():
    async def main():
        rejected = []
        gate = Gate("chat", 1, 1, 3, on_reject=lambda role, why: rejected.append((role, why)))
        await gate.acquire(1)
        waiter = asyncio.create_task(gate.acquire(5))
        await asyncio.sleep(0)
        assert gate.waiting == 1
        with pytest.raises(ApiError) as err:
            await gate.acquire(5)
        assert err.value.status == 429 and err.value.retry_after == 3
        assert rejected == [("chat", "queue_full")]
        gate.release()  # hands the slot to the waiter
        await waiter
        assert gate.active == 1 and gate.waiting == 0
        gate.release()
        assert gate.active == 0

    run(main())


def test_waiting_too_long_gives_503():
    async def main():
        gate = Gate("sentiment", 1, 4, 2)
        await gate.acquire(1)
        with pytest.raises(ApiError) as err:
            await gate.acquire(0.05)
        assert err.value.status == 503 and err.value.code == "queue_timeout"
        assert gate.waiting == 0
        gate.release()
        assert gate.active == 0

    run(main())


def test_waiters_are_served_first_come_first_served():
    async def main():
        gate = Gate("chat", 1, 5, 1)
        order = []
        await gate.acquire(1)

        async def worker(i):
            async with gate.enter(5):
                order.append(i)
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(worker(i)) for i in range(4)]
        await asyncio.sleep(0)
        gate.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3] and gate.active == 0

    run(main())


def test_cancelled_waiter_passes_its_slot_on():
    async def main():
        gate = Gate("chat", 1, 5, 1)
        await gate.acquire(1)
        first = asyncio.create_task(gate.acquire(5))
        second = asyncio.create_task(gate.acquire(5))
        await asyncio.sleep(0)
        gate.release()  # slot handed to `first` ...
        first.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(first, return_exceptions=True)
        await second
        assert gate.active == 1 and gate.waiting == 0
        gate.release()
        assert gate.active == 0

    run(main())


def test_http_429_when_chat_queue_is_full(make_app):
    app = make_app(parallel=1, max_queue=0, retry_after_s=7)
    with TestClient(app) as c:
        server_state(app).gates["chat"].active = 1  # the one slot is busy
        r = c.post("/v1/chat", json={"message": "hi"})
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert r.json()["error"]["code"] == "queue_full"
        r = c.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 429
        # sentiment has its own gate and is still served
        assert c.post("/v1/sentiment", json={"text": "hi"}).status_code == 200
        server_state(app).gates["chat"].active = 0
        assert c.post("/v1/chat", json={"message": "hi"}).status_code == 200
        metrics = c.get("/metrics").text
    assert 'moodchat_rejected_total{reason="queue_full",role="chat"} 2.0' in metrics


def test_http_503_when_the_wait_exceeds_the_request_timeout(make_app):
    app = make_app(max_sentiment_concurrency=1, max_sentiment_queue=4, request_timeout_s=0.1)
    with TestClient(app) as c:
        server_state(app).gates["sentiment"].active = 1
        r = c.post("/v1/sentiment", json={"text": "hi"})
        assert r.status_code == 503 and r.headers["retry-after"]
        assert r.json()["error"]["code"] == "queue_timeout"
        server_state(app).gates["sentiment"].active = 0
        assert c.get("/healthz").status_code == 200
