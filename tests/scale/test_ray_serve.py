"""``moodchat serve --ray`` on a real local Ray cluster with the real default model.

Two model replicas behind the Serve front answer ``/v1/sentiment`` (the single-process
labels) and ``/v1/chat`` (SSE order kept) and the OpenAI route; a replica killed mid-stream
ends that stream with an error event, Serve replaces it, and the next requests succeed.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import ray
from ray import serve

from live import free_port, sse_events
from moodchat.scale.serve import APP_NAME, REPLICA_HEADER, start_serve
from moodchat.server import ServerSettings

TEXTS = ["My sister had a baby this morning!", "I failed my exam and I feel awful.",
         "今天被老板批评了，心里很难受。", "周末和朋友去爬山，玩得特别开心！"]  # fmt: skip


@pytest.fixture(scope="module")
def served(default_model, tmp_path_factory):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    settings = ServerSettings(
        model=default_model, auto_pull=False, threads=1, replicas=2, parallel=2,
        port=free_port(), db_path=str(tmp_path_factory.mktemp("serve") / "sessions.db"),
    )  # fmt: skip
    start_serve(settings)
    url = f"http://127.0.0.1:{settings.port}"
    try:
        yield url
    finally:
        serve.shutdown()
        ray.shutdown()


def _replica(response: httpx.Response) -> str:
    return response.headers[REPLICA_HEADER.decode()]


def test_two_replicas_answer_sentiment_with_the_single_process_labels(served, assistant):
    expected = [s.label for s in assistant.analyze_many(TEXTS)]
    replicas = set()
    with httpx.Client(base_url=served, timeout=120) as c:
        assert c.get("/healthz").status_code == 200
        for _ in range(20):
            r = c.post("/v1/sentiment", json={"texts": TEXTS})
            assert r.status_code == 200, r.text
            assert [x["label"] for x in r.json()["results"]] == expected
            replicas.add(_replica(r))
            if len(replicas) == 2:
                break
    assert len(replicas) == 2  # both replicas answered


def test_chat_streams_in_order_through_the_front(served):
    body = {"message": "I got the job!!", "stream": True, "max_tokens": 24}
    with httpx.Client(base_url=served, timeout=120) as c:
        r = c.post("/v1/chat", json=body)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        kinds = [e for e, _ in sse_events(r.text)]
        assert kinds[0] == "sentiment" and kinds[-1] == "done"
        assert set(kinds[1:-1]) == {"token"}
        done = json.loads(sse_events(r.text)[-1][1])
        tokens = "".join(json.loads(d)["text"] for e, d in sse_events(r.text) if e == "token")
        assert tokens == done["reply"]
        oa = c.post("/v1/chat/completions", json={
            "model": "moodchat", "max_tokens": 16,
            "messages": [{"role": "user", "content": "好累啊今天"}],
        })  # fmt: skip
        assert oa.status_code == 200 and oa.json()["choices"][0]["message"]["content"]
        assert oa.json()["sentiment"]["label"] in {"positive", "negative", "neutral"}


def test_a_replica_killed_mid_stream_ends_that_stream_with_an_error_and_is_replaced(served):
    body = {"message": "Tell me a long story about a happy dog.", "stream": True,
            "max_tokens": 128}  # fmt: skip
    with httpx.Client(base_url=served, timeout=120) as c:
        with c.stream("POST", "/v1/chat", json=body) as r:
            lines = r.iter_lines()
            for line in lines:
                if line.startswith("event: token"):
                    break
            victim = _replica(r)
            ray.kill(ray.get_actor(victim, namespace="serve"))
            rest = "\n".join(lines)
        events = sse_events(rest)
        assert events[-1][0] == "error", events[-3:]
        assert json.loads(events[-1][1])["error"]["code"] == "replica_unavailable"
        answered = [c.post("/v1/sentiment", json={"text": TEXTS[0]}) for _ in range(10)]
        assert [r.status_code for r in answered] == [200] * 10, answered[-1].text
    assert _replaced(victim)


def _replaced(victim: str, timeout: float = 180.0) -> bool:
    """Serve brings the deployment back to 2 running replicas, without the victim."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = serve.status().applications[APP_NAME].deployments["MoodchatModel"]
        running = status.replica_states.get("RUNNING", 0)
        if running == 2 and status.status == "HEALTHY":
            return True
        time.sleep(1)
    return False
