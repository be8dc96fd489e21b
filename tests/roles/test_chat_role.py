"""Chat role contract: UTF-8-safe streaming, stop conditions, history trimming."""

from __future__ import annotations

import pytest

from fakes import FakeEngine
from moodchat.prompts import chat_prompt
from moodchat.roles.chat import ChatRole, Utf8Stream, off_language_tokens
from moodchat.template import ChatML
from moodchat.types import Message


def make_role(reply="好的，我明白你的感受。😊", **kw) -> tuple[FakeEngine, ChatRole]:
    engine = FakeEngine(reply=reply)
    return engine, ChatRole(engine, ChatML(engine), chat_prompt(), **kw)


def drain(gen):
    pieces = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as stop:
            return pieces, stop.value


def test_stream_never_splits_a_character():
    reply = "好的，我明白你的感受。😊"
    _, role = make_role(reply)
    pieces, stats = drain(role.stream("我好累"))
    assert "".join(pieces) == reply
    for p in pieces:
        assert p and "\ufffd" not in p
    assert stats.finish_reason == "stop"
    assert stats.completion_tokens == len(reply.encode())


def test_max_new_tokens_stops_with_length():
    _, role = make_role("abcdefghijklmnopqrstuvwxyz")
    pieces, stats = drain(role.stream("hi", max_new_tokens=5))
    assert "".join(pieces) == "abcde"
    assert stats.finish_reason == "length"


def test_should_stop_cancels():
    _, role = make_role("abcdefghijklmnopqrstuvwxyz")
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    pieces, stats = drain(role.stream("hi", should_stop=stop_after_three))
    assert "".join(pieces) == "abc"
    assert stats.finish_reason == "cancelled"


def test_utf8_stream_holds_partial_bytes():
    s = Utf8Stream()
    data = "é😊".encode()
    out = [s.push(data[i : i + 1]) for i in range(len(data))]
    assert out == ["", "é", "", "", "", "😊"]
    assert s.flush() == ""


def test_history_is_trimmed_oldest_first():
    _, role = make_role(max_prompt_tokens=200)
    history = [Message("user", f"old message number {i} " * 3) for i in range(20)]
    tokens, truncated = role.build("now", history)
    assert truncated and len(tokens) <= 200
    text = bytes(t for t in tokens if t < 256).decode()
    assert "number 19" in text and "number 0 " not in text


def test_message_language_picks_the_prefix():
    _, role = make_role()
    assert role.prefix_for("今天好累") is role.prefixes["zh"]
    assert role.prefix_for("so tired") is role.prefixes["en"]


@pytest.mark.parametrize(
    "text,kept",
    [
        ("好的。我们慢慢来！要不要先", "好的。我们慢慢来！"),
        ("That sounds hard. Try a short walk. Then maybe", "That sounds hard. Try a short walk."),
        ("He said “good job.” And then", "He said “good job.”"),
        ("Version 2.5 is out and", "Version 2.5 is out and"),  # no sentence end: kept whole
        ("真的吗？！太好了", "真的吗？！"),
    ],
)
def test_complete_sentences(text, kept):
    from moodchat.roles.chat import complete_sentences

    assert complete_sentences(text) == kept


def test_reply_cut_by_the_limit_ends_at_a_sentence():
    from fakes import FakeEngine
    from moodchat import Assistant

    bot = Assistant(FakeEngine(reply="第一句。第二句还没说完"))
    events = list(bot.respond("hello", max_new_tokens=20))
    done = events[-1]
    assert done.finish_reason == "length"
    assert done.reply == "第一句。"
    streamed = "".join(e.text for e in events[1:-1])
    assert streamed.startswith("第一句。第二")  # the stream itself is never rewritten


def test_off_language_tokens_from_the_vocabulary():
    masks = off_language_tokens(FakeEngine())
    zh, en = set(masks["zh"].tolist()), set(masks["en"].tolist())
    assert {ord("a"), ord("Z")} <= zh and ord("1") not in zh
    assert 0xE4 in en and ord("a") not in en and not zh & en


@pytest.mark.parametrize("message,lang", [("I passed!", "en"), ("我考过了！", "zh")])
def test_a_reply_keeps_to_the_message_language(message, lang):
    engine = FakeEngine()
    role = ChatRole(engine, ChatML(engine), chat_prompt())
    list(role.stream(message))
    first, always = engine.first_banned[-1], engine.banned[-1]
    banned = always if lang == "en" else first  # English: never CJK; Chinese: not opening Latin
    assert (first if lang == "en" else always) is None
    assert set(banned.tolist()) == set(role.off_language[lang].tolist())
