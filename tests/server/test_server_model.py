"""The server on the real default model, over real sockets (``-m model``).

One uvicorn server per module shares the session's ``assistant``: SSE order, the official
``openai`` client, a disconnect that stops generation, malformed bodies, and a bounded
schemathesis run against the OpenAPI document. No fakes here.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import live_server, sse_events, wait_until
from live import read_token_events
from moodchat.roles.chat import complete_sentences
from moodchat.server import ServerSettings, create_app
from moodchat.server.state import server_state
from moodchat.sessions.protocol import MemorySessionStore

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def served(assistant):
    """(base URL, app) of a live server on the real model."""
    app = create_app(
        ServerSettings(max_text_chars=2000, max_batch_texts=8, request_timeout_s=600),
        assistant=assistant,
        sessions=MemorySessionStore(),
    )
    with live_server(app) as url:
        yield url, app


def test_chat_sse_order_sentiment_tokens_done(served):
    url, _ = served
    body = {
        "message": "I failed my driving test again and I feel awful.",
        "stream": True,
        "max_tokens": 12,
    }
    r = httpx.post(url + "/v1/chat", json=body, timeout=600)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "sentiment" and kinds[-1] == "done" and "token" in kinds
    assert set(kinds[1:-1]) == {"token"}
    mood = json.loads(events[0][1])
    assert mood["label"] == "negative" and 0.5 <= mood["confidence"] <= 1
    done = json.loads(events[-1][1])
    text = "".join(json.loads(d)["text"] for e, d in events if e == "token")
    cut = done["finish_reason"] == "length"
    assert done["reply"] == (complete_sentences(text.strip()) if cut else text.strip())
    assert 0 < done["completion_tokens"] <= 12
    assert "\ufffd" not in text


def test_official_openai_client_streams(served):
    url, _ = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", timeout=600)
    ids = [m.id for m in client.models.list()]
    assert ids == ["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    stream = client.chat.completions.create(
        model=ids[0],
        messages=[{"role": "user", "content": "I just got the job I wanted!"}],
        stream=True,
        max_tokens=8,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["sentiment"]["label"] == "positive"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] in ("stop", "length") and set(finals[:-1]) == {None}
    assert chunks[-1].usage.completion_tokens <= 8
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


def test_disconnect_stops_generation(served, assistant):
    url, app = served
    engine = assistant.engine
    free_before = engine._reply_seqs.available  # llama.cpp reply sequences not in use
    tokens = server_state(app).metrics.tokens
    body = {
        "message": "Tell me a long story about my lonely week.",
        "stream": True,
        "max_tokens": 128,
    }
    with httpx.Client(timeout=600) as c, c.stream("POST", url + "/v1/chat", json=body) as r:
        read_token_events(r, 2)
        at_close = tokens._value.get()
    # the generation ends: its slot and its llama.cpp sequence are given back
    assert wait_until(lambda: server_state(app).gates["chat"].active == 0, timeout=120)
    assert wait_until(lambda: engine._reply_seqs.available == free_before, timeout=120)
    after = tokens._value.get()
    assert after - at_close <= 2, (at_close, after)
    cancelled = server_state(app).metrics.cancelled.labels("disconnect")._value.get()
    assert cancelled == 1
    assert httpx.get(url + "/healthz").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"x" * (1 << 20),
        b'{"text": "\xff\xfe bad"}',
        b'{"text": 12}',
        b'{"texts": "a"}',
        b"[1, 2]",
        b'{"text": "' + "é".encode() * 300_000 + b'"}',
    ],
    ids=["empty", "1MB", "invalid-utf8", "int", "str-for-list", "array", "1MB-text"],
)
def test_malformed_bodies_never_5xx(served, body):
    url, _ = served
    for path in ("/v1/sentiment", "/v1/chat", "/v1/chat/completions"):
        r = httpx.post(url + path, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
        assert "error" in r.json()
    assert httpx.get(url + "/healthz").status_code == 200


@pytest.fixture(scope="module")
def fuzz_target(assistant):
    """A live server with tiny limits so generated requests stay cheap on the real model."""
    app = create_app(
        ServerSettings(
            max_tokens=2,
            max_text_chars=200,
            max_batch_texts=3,
            max_history_messages=4,
            request_timeout_s=600,
        ),
        assistant=assistant,
        sessions=MemorySessionStore(),
    )
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_target):
    return schemathesis.openapi.from_url(fuzz_target + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_no_server_errors(case, fuzz_target):
    from schemathesis.checks import not_a_server_error

    case.call_and_validate(base_url=fuzz_target, checks=[not_a_server_error], timeout=600)
    assert httpx.get(fuzz_target + "/healthz").status_code == 200


def test_short_mixed_load_no_server_errors(served):
    """8 clients mixing chat and sentiment for a few seconds: only 200 / 429 / 503."""
    from script_loader import load_script

    loadtest = load_script("loadtest")
    url, app = served
    res = loadtest.run_load(url, clients=8, duration=8, chat_share=0.5, max_tokens=8)
    statuses = {status for (_, status) in res.statuses}
    assert statuses <= {200, 429, 503}, res.statuses
    assert res.latency["sentiment"] and res.latency["chat"]
    assert httpx.get(url + "/healthz").status_code == 200
    assert server_state(app).gates["chat"].active == 0
