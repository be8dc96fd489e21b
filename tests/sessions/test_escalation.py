"""The escalation rule and the webhook notifier, against a local receiver on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from moodchat.sessions.escalation import EscalationRule, WebhookNotifier
from moodchat.sessions.store import SqliteSessionStore
from moodchat.types import Sentiment
from receiver import Receiver


def neg(c: float = 0.7) -> Sentiment:
    return Sentiment("negative", c)


def test_rule_n_negatives_in_a_row():
    rule = EscalationRule(after_negative=3)
    assert rule.check(1, neg()) is None
    assert rule.check(2, neg()) is None
    assert rule.check(3, neg()) == "3 negative messages in a row (threshold 3)"
    assert EscalationRule(after_negative=1).check(1, neg()) == "1 negative message (threshold 1)"
    assert rule.check(3, Sentiment("positive", 0.99)) is None


def test_rule_one_confident_negative():
    rule = EscalationRule(after_negative=None, confidence=0.9)
    assert rule.check(1, neg(0.89)) is None
    assert "confidence 0.95" in rule.check(1, neg(0.95))
    assert rule.check(5, neg(0.5)) is None  # streak part disabled
    assert EscalationRule.never().check(100, neg(1.0)) is None
    assert EscalationRule(after_negative=0).check(100, neg(1.0)) is None


def fast(url: str, **kw) -> WebhookNotifier:
    return WebhookNotifier(url, backoff=0.01, max_backoff=0.05, timeout=2, **kw)


def test_webhook_retries_500_then_succeeds():
    with Receiver([500, 503, 200]) as rx:
        hook = fast(rx.url, max_attempts=5)
        assert hook.submit({"session_id": "s1", "reason": "test"})
        assert hook.flush(10)
        hook.close()
    assert [status for status, _ in rx.received] == [500, 503, 200]
    assert rx.delivered() == [{"session_id": "s1", "reason": "test"}]
    assert hook.stats() == {"sent": 1, "failed": 0, "retried": 2, "dropped": 0, "pending": 0}


def test_webhook_gives_up_after_bounded_attempts(caplog):
    with Receiver([500]) as rx:
        hook = fast(rx.url, max_attempts=3)
        hook.submit({"session_id": "s2"})
        assert hook.flush(10)
        hook.close()
    assert len(rx.received) == 3
    assert hook.stats()["failed"] == 1 and hook.stats()["sent"] == 0
    assert "giving up after 3 attempt(s)" in caplog.text


def test_webhook_does_not_retry_a_client_error():
    with Receiver([404, 200]) as rx:
        hook = fast(rx.url, max_attempts=5)
        hook.submit({"session_id": "s3"})
        assert hook.flush(10)
        hook.close()
    assert len(rx.received) == 1 and hook.stats()["failed"] == 1


def test_webhook_unreachable_is_counted_as_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    hook = fast(f"http://127.0.0.1:{port}/hook", max_attempts=2)
    assert hook.submit({"session_id": "s4"})
    assert hook.flush(10)
    hook.close()
    assert hook.stats()["failed"] == 1


def test_submit_never_blocks_even_when_the_receiver_hangs():
    release = threading.Event()
    with Receiver([200]) as rx:
        hook = fast(rx.url, queue_size=2)
        original = hook._deliver
        hook._deliver = lambda client, s: release.wait(30) and original(client, s)
        start = time.perf_counter()
        results = [hook.submit({"session_id": f"q{i}"}) for i in range(6)]
        # every submit returned while the receiver side was still stuck (bound far below 30 s)
        assert time.perf_counter() - start < 5 and not release.is_set()
        assert hook.stats()["pending"] == results.count(True)
        assert results.count(False) >= 3 and hook.stats()["dropped"] >= 3
        release.set()
        assert hook.flush(10)
        hook.close()
    assert hook.stats()["sent"] == results.count(True)


def test_escalating_session_posts_its_summary_to_the_receiver(tmp_path):
    with Receiver([500, 200]) as rx:
        hook = fast(rx.url)
        store = SqliteSessionStore(
            tmp_path / "e.db", rule=EscalationRule(after_negative=2), on_escalate=hook.submit
        )
        store.record_user("cust-7", "my order never came", neg(0.8))
        store.record_reply("cust-7", "I'm sorry to hear that.")
        assert store.record_user("cust-7", "this is ridiculous", neg(0.9)).escalated
        assert hook.flush(10)
        hook.close()
        store.close()
    [summary] = rx.delivered()
    assert summary["event"] == "session.escalated"
    assert summary["session_id"] == "cust-7"
    assert summary["reason"] == "2 negative messages in a row (threshold 2)"
    assert [(m["role"], m["content"], m["label"]) for m in summary["messages"]] == [
        ("user", "my order never came", "negative"),
        ("assistant", "I'm sorry to hear that.", None),
        ("user", "this is ridiculous", "negative"),
    ]
    assert summary["negative_streak"] == 2 and summary["escalated_at"] > 0


@pytest.mark.parametrize("bad", [0, -1])
def test_max_attempts_must_be_positive(bad):
    with pytest.raises(ValueError):
        WebhookNotifier("http://127.0.0.1:1/", max_attempts=bad)


def test_a_neutral_message_keeps_the_negative_streak():
    from moodchat.sessions.protocol import next_streak

    streak = 0
    for label in ("negative", "neutral", "negative", "neutral"):
        streak = next_streak(streak, label)
    assert streak == 2
    assert next_streak(streak, "positive") == 0
