"""Per-language prompt variants and the answer prefix of the sentiment role (fake engine)."""

from __future__ import annotations

from dataclasses import replace

from fakes import FakeEngine
from moodchat.prompts import Example, SentimentPrompt, prompt_names, sentiment_prompt
from moodchat.roles.sentiment import SentimentRole
from moodchat.template import ChatML
from moodchat.types import LABELS

ZH = SentimentPrompt(
    name="t/zh",
    system="判断情感。",
    answers={"positive": "正面", "negative": "负面"},
    examples=(Example("很好", "positive"),),
    answer_prefix="情感：",
)
EN = SentimentPrompt(
    name="t/en",
    system="Classify.",
    answers={"positive": "positive", "negative": "negative"},
    examples=(Example("great", "positive"), Example("awful", "negative")),
)
BOTH = replace(EN, name="t", languages=(("zh", ZH), ("en", EN)))


def make_role(prompt: SentimentPrompt = BOTH) -> tuple[FakeEngine, SentimentRole]:
    engine = FakeEngine(positive_word="positive", negative_word="negative")
    return engine, SentimentRole(engine, ChatML(engine), prompt)


def test_each_language_gets_its_own_cached_prefix():
    engine, role = make_role()
    assert len(role.prefixes()) == 2  # zh and en; English doubles as the fallback
    assert len(engine.prefixes) == 2
    assert role.prefix_tokens() == max(len(p) for p in role.prefixes())


def test_texts_go_to_their_language_variant():
    _, role = make_role()
    # the fake only scores the English answer words, so only English text gets a verdict
    en = role.analyze("so happy")
    zh = role.analyze("我很happy")
    assert en.label == "positive" and en.confidence > 0.9
    assert zh.probabilities == {"positive": 0.5, "negative": 0.5}
    many = role.analyze_many(["so happy", "我很happy", "sad"])
    assert [s.probabilities for s in many] == [
        en.probabilities,
        zh.probabilities,
        role.analyze("sad").probabilities,
    ]


def test_answer_prefix_costs_its_tokens_per_request_only_in_its_language():
    engine, role = make_role()
    tmpl = role.template
    zh_tokens, _ = role._request_tokens("你好")
    assert zh_tokens == tmpl.text("你好") + tmpl.reply_start() + tmpl.text("情感：")
    en_tokens, _ = role._request_tokens("hello")
    assert en_tokens == tmpl.text("hello") + tmpl.reply_start()
    before = engine.evaluated_tokens
    role.analyze("你好")
    assert engine.evaluated_tokens - before == len(zh_tokens)


def test_release_frees_every_prefix():
    class Releasing(FakeEngine):
        released: list[int] = []

        def release_prefix(self, prefix) -> None:
            self.released.append(prefix.handle)

    engine = Releasing()
    role = SentimentRole(engine, ChatML(engine), BOTH)
    role.release()
    assert sorted(engine.released) == sorted(engine.prefixes)


def test_every_shipped_version_loads_and_has_both_labels():
    three_way = []
    for name in prompt_names("sentiment"):
        p = sentiment_prompt(name)
        for variant in (p, *(v for _, v in p.languages)):
            assert set(variant.answers) in ({"positive", "negative"}, set(LABELS))
            assert variant.labels[:2] == ("positive", "negative")
            assert variant.system
        if "neutral" in p.labels:
            three_way.append(name)
        assert p.for_text("你好").answers and p.for_text("hello").answers
    assert {"a2-adapter", "v10-three-fewshot"} <= set(three_way)
