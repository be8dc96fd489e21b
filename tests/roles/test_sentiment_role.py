"""Sentiment role contract, on the byte-level fake engine."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from fakes import FakeEngine
from moodchat.errors import InputError
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import SentimentRole, label_token_ids
from moodchat.template import ChatML


def make_role(**kw) -> tuple[FakeEngine, SentimentRole]:
    engine = FakeEngine()
    return engine, SentimentRole(engine, ChatML(engine), sentiment_prompt("v4-fewshot"), **kw)


def test_labels_follow_the_label_word_logits():
    _, role = make_role()
    happy = role.analyze("I am so happy")
    sad = role.analyze("I lost my keys")
    assert (happy.label, sad.label) == ("positive", "negative")
    assert 0.5 < happy.confidence <= 1.0
    assert happy.probabilities["positive"] == happy.confidence
    assert abs(sum(sad.probabilities.values()) - 1) < 1e-3


def test_prefix_is_evaluated_once_and_requests_cost_only_their_tokens():
    engine, role = make_role()
    after_init = engine.evaluated_tokens
    role.analyze("happy")
    per_request = engine.evaluated_tokens - after_init
    assert per_request == len(role._request_tokens("happy")[0])
    assert per_request < len(role.prefix) / 10


def test_long_text_keeps_head_and_tail():
    _, role = make_role(max_input_tokens=32)
    result = role.analyze("happy " + "x" * 500 + " end")
    assert result.truncated
    assert result.n_tokens <= 32 + len(role.template.reply_start())
    assert result.label == "positive"  # "happy" sits in the kept head


def test_analyze_many_matches_analyze_and_keeps_order():
    _, role = make_role()
    texts = ["happy day", "bad day", "so happy", "meh"]
    many = role.analyze_many(texts)
    assert [s.label for s in many] == [role.analyze(t).label for t in texts]


def test_invalid_text_raises_input_error():
    _, role = make_role()
    with pytest.raises(InputError):
        role.analyze("   ")


def test_calibration_divides_out_the_content_free_bias():
    engine = FakeEngine()
    plain = SentimentRole(engine, ChatML(engine), sentiment_prompt("v4-fewshot"))
    calibrated = SentimentRole(engine, ChatML(engine), sentiment_prompt("v5-fewshot-calibrated"))
    # The fake scores every content-free input as negative, so calibration must lower
    # the negative confidence of an ordinary negative text.
    assert calibrated.log_bias[1] > calibrated.log_bias[0]
    assert (
        calibrated.analyze("rainy").probabilities["negative"]
        < plain.analyze("rainy").probabilities["negative"]
    )


def test_label_token_ids_include_the_first_character_for_cjk():
    engine = FakeEngine()
    assert label_token_ids(engine, "负面") == [engine.tokenize("负面")[0]]
    # byte-level: the first byte of the word and of its first character coincide
    assert label_token_ids(engine, "positive") == [ord("p")]


def test_temperature_softens_the_confidence_but_never_flips_the_label():
    engine = FakeEngine()
    base = sentiment_prompt("v4-fewshot")
    plain = SentimentRole(engine, ChatML(engine), replace(base, temperature=1.0))
    scaled = SentimentRole(engine, ChatML(engine), replace(base, temperature=2.0))
    for text in ["I am so happy", "I lost my keys", "rainy"]:
        a, b = plain.analyze(text), scaled.analyze(text)
        assert a.label == b.label
        assert 0.5 <= b.confidence < a.confidence
        # T=2 halves the log-odds: logit(b) == logit(a) / 2
        logit = lambda p: math.log(p / (1 - p))  # noqa: E731
        assert logit(b.confidence) == pytest.approx(logit(a.confidence) / 2, abs=2e-3)


def test_non_positive_temperature_is_refused(monkeypatch):
    from moodchat import prompts

    data = prompts._load("sentiment")
    bad = dict(data["versions"]["v4-fewshot"], temperature=0)
    monkeypatch.setitem(data["versions"], "bad-temperature", bad)
    with pytest.raises(ValueError, match="temperature"):
        sentiment_prompt("bad-temperature")
