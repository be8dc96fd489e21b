"""The Ray Serve front's relay (``moodchat.scale.forward``) on fakes, without Ray: a front
and a replica wired in one process, over a real socket."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from fakes import FakeEngine, SlowEngine
from live import fake_app, live_server, read_token_events, sse_events, wait_until
from moodchat.scale.forward import FrontApp, request_record, run_asgi
from moodchat.server.state import server_state


def front_for(app) -> FrontApp:
    return FrontApp(lambda record: run_asgi(app, record), 262_144, 2)


def failing_stream(after: int):
    """A stream that sends ``after`` messages of an SSE answer, then fails like a dead actor."""

    async def stream(record):
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        sent = [
            {"type": "http.response.start", "status": 200, "headers": headers},
            {
                "type": "http.response.body",
                "body": b"event: token\ndata: {}\n\n",
                "more_body": True,
            },
        ]
        for message in sent[:after]:
            yield message
        raise RuntimeError("ActorDiedError: the replica died")

    return stream


def test_a_relayed_answer_is_the_direct_answer():
    app = fake_app(FakeEngine(reply="hello there"))
    with live_server(app) as direct, live_server(front_for(app)) as front:
        for path, body in (
            ("/v1/sentiment", {"texts": ["I am so happy today", "this is awful"]}),
            ("/v1/chat", {"message": "happy news!", "stream": True, "seed": 1}),
            ("/v1/chat/completions", {
                "model": "moodchat", "stream": True, "seed": 1,
                "messages": [{"role": "user", "content": "happy"}],
            }),
        ):  # fmt: skip
            a = httpx.post(direct + path, json=body, timeout=30)
            b = httpx.post(front + path, json=body, timeout=30)
            assert (a.status_code, a.headers["content-type"]) == (
                b.status_code,
                b.headers["content-type"],
            )
            assert _stable(a.text) == _stable(b.text), path
        json_type = {"content-type": "application/json"}
        a, b = (
            httpx.post(url + "/v1/sentiment", content=b"\xff{", headers=json_type)
            for url in (direct, front)
        )
        assert a.status_code == b.status_code == 400 and a.json() == b.json()


def _stable(text: str) -> str:
    """The body without what differs between two calls (ids, timestamps, timings)."""
    return re.sub(r'"(id|created|session_id|\w*_ms|\w*_s)":\s*("[^"]*"|[0-9.e-]+)', r'"\1":_', text)


def test_a_client_that_leaves_mid_stream_stops_the_replicas_generation():
    engine = SlowEngine(delay=0.05, reply="y" * 400)
    app = fake_app(engine)
    with live_server(front_for(app)) as front, httpx.Client(base_url=front, timeout=30) as c:
        body = {"message": "tell me everything", "stream": True, "max_tokens": 400}
        with c.stream("POST", "/v1/chat", json=body) as r:
            read_token_events(r, 3)
        assert wait_until(lambda: engine.closed_generations == 1)
        assert wait_until(lambda: server_state(app).gates["chat"].active == 0)
        assert len(engine.generated) < 40  # of 400 scripted tokens


def test_a_replica_that_fails_before_answering_gives_a_json_503():
    with live_server(FrontApp(failing_stream(0), 262_144, 2)) as front:
        r = httpx.post(front + "/v1/chat", json={"message": "hi"}, timeout=30)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "replica_unavailable"


@pytest.mark.parametrize(
    "path, last",
    [("/v1/chat", ("error", "replica_unavailable")), ("/v1/chat/completions", (None, "[DONE]"))],
)
def test_a_replica_that_dies_mid_stream_ends_it_with_an_error_in_its_dialect(path, last):
    with live_server(FrontApp(failing_stream(2), 262_144, 2)) as front:
        r = httpx.post(front + path, json={"message": "hi"}, timeout=30)
    assert r.status_code == 200
    events = sse_events(r.text)
    assert events[0] == ("token", "{}")
    event, data = events[-1]
    assert event == last[0] and last[1] in data
    errors = [json.loads(d) for _, d in events if "error" in d]
    assert errors and errors[0]["error"]["code"] == "replica_unavailable"


def test_a_body_over_the_limit_is_refused_at_the_front():
    calls = []

    def never(record):
        calls.append(record)
        raise AssertionError("no replica call for a refused body")

    with live_server(FrontApp(never, 1024, 2)) as front:
        r = httpx.post(front + "/v1/sentiment", content=b"x" * 5000, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert calls == []


def test_the_record_keeps_what_a_replica_needs_and_pickles():
    import pickle

    scope = {
        "type": "http", "method": "POST", "path": "/v1/chat", "raw_path": b"/v1/chat",
        "query_string": b"a=1", "headers": [(b"authorization", b"Bearer k")],
        "root_path": "/proxy", "app": object(), "state": {"x": object()},
    }  # fmt: skip
    record = pickle.loads(pickle.dumps(request_record(scope, b"{}")))
    assert record["body"] == b"{}"
    assert record["scope"]["headers"] == [(b"authorization", b"Bearer k")]
    assert record["scope"]["root_path"] == "" and "app" not in record["scope"]
