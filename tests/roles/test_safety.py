"""The safety rule: self-harm messages get a fixed caring reply and escalate the session."""

from __future__ import annotations

import re

import pytest

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.roles.safety import crisis_reply, in_crisis, is_crisis_reply, mentions_self_harm
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
    "Lately I think about hurting myself when it gets bad",
    "Would anyone notice if I were gone?",
    "I'm just a burden to my family",
    "I honestly can't keep going.",
    "what's the point of living like this",
    "I've been giving my stuff away this week",
    "It's never going to get better for me",
    "我只是大家的负担",
    "如果我不在了，是不是就没人烦了",
    "真想从楼顶跳下去",
    "我真的撑不下去了",
    "已经写好了遗书",
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
    "I can't keep going to these boring meetings",
    "There's no way out of this phone contract",
    "我再也不会迟到了",
    "I'm so done with this group project",
    "I'm giving my old books away to the library",
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


def _sentences(text: str) -> set[str]:
    return {p.strip() for p in re.split(r"[。！？!?.;；：:]", text) if len(p.strip()) >= 8}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_crisis_wordings_share_no_sentence_and_all_point_to_help(lang):
    replies = [crisis_reply(lang, turn) for turn in range(3)]
    assert len(set(replies)) == 3 and all(is_crisis_reply(r) for r in replies)
    for i, a in enumerate(replies):
        assert ("热线" in a) if lang == "zh" else ("crisis line" in a)
        for b in replies[i + 1 :]:
            assert not _sentences(a) & _sentences(b)
    assert crisis_reply(lang, 3) == replies[0]


def test_a_conversation_that_spoke_of_it_stays_in_crisis_mode():
    assert in_crisis("I told nobody yet", ["I want to kill myself"])
    assert not in_crisis("thanks, see you", ["what a nice day"])
    bot = Assistant(FakeEngine(reply="That's great news!"))
    history = []
    for message in ("我不想活了", "我不想让家里人知道。", "谢谢你听我说。"):
        done = list(bot.respond(message, history))[-1]
        history += [
            {"role": "user", "content": message},
            {"role": "assistant", "content": done.reply},
        ]
    replies = [m["content"] for m in history if m["role"] == "assistant"]
    assert replies == [crisis_reply("zh", turn) for turn in range(3)]
    assert bot.engine.generated == []
