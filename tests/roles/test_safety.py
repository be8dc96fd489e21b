"""The safety rule: self-harm messages get a fixed caring reply and escalate the session."""

from __future__ import annotations

import pytest

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.roles.safety import crisis_reply, mentions_self_harm
from moodchat.sessions.escalation import EscalationRule
from moodchat.sessions.store import SqliteSessionStore

CRISIS = [
    "I want to kill myself",
    "I don't want to be here anymore",
    "Everyone would be better off dead without me",
    "I keep cutting myself again",
    "我觉得没有我，大家都会过得更好。",
    "活着好累，想结束这一切",
    "我不想活了",
    "我又开始想伤害自己了",
]
EVERYDAY = [
    "How do I kill time at the airport?",
    "怎么干掉拖延症？",
    "想死你了！",
    "I'm dying to see that movie",
    "This traffic is killing me",
    "笑死我了",
    "累死了，今天加班到十点",
    "my phone died again",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_messages_are_recognised(text):
    assert mentions_self_harm(text)


@pytest.mark.parametrize("text", EVERYDAY)
def test_figures_of_speech_are_not(text):
    assert not mentions_self_harm(text)


@pytest.mark.parametrize("text,lang", [("I want to kill myself", "en"), ("我不想活了", "zh")])
def test_crisis_reply_is_fixed_caring_and_in_the_users_language(text, lang):
    bot = Assistant(FakeEngine(reply="That's great news!"))
    events = list(bot.respond(text))
    mood, done = events[0].sentiment, events[-1]
    assert mood.crisis
    assert done.reply == crisis_reply(lang) and done.finish_reason == "stop"
    assert ("热线" in done.reply) if lang == "zh" else ("crisis line" in done.reply)
    assert bot.engine.generated == []  # nothing was sampled


def test_ordinary_messages_are_not_marked():
    bot = Assistant(FakeEngine())
    assert not bot.analyze("so happy today").crisis
    assert [s.crisis for s in bot.analyze_many(["我不想活了", "nice day"])] == [True, False]


def test_crisis_escalates_the_session(tmp_path):
    bot = Assistant(FakeEngine())
    mood = bot.analyze("I don't want to be here anymore")
    store = SqliteSessionStore(tmp_path / "s.db", rule=EscalationRule(after_negative=None))
    state = store.record_user("s1", "I don't want to be here anymore", mood)
    assert state.escalated
    assert store.info("s1")["escalation_reason"] == "message about self-harm or suicide"
    assert EscalationRule.never().check(1, mood) is None
    store.close()
