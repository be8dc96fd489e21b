"""Conversation data for the chat adapter, and its loss positions, on the fake engine."""

from __future__ import annotations

import json
import random

import pytest

from fakes import CONTROL, FakeEngine
from moodchat.prompts import chat_prompt
from moodchat.template import ChatML
from moodchat.training.chat import ConversationTokens, everyday_chat_path
from moodchat.training.conversations import (
    Conversation,
    conversation_mix,
    first_exchanges,
    language_counts,
    read_conversations,
    usable_reply,
)
from moodchat.types import Message


def _conv(*texts: str, lang: str = "en") -> Conversation:
    roles = ("user", "assistant")
    return Conversation(tuple(Message(roles[i % 2], t) for i, t in enumerate(texts)), lang, "t")


def test_read_conversations_keeps_only_well_formed_lines(tmp_path):
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}]
    good = {"messages": turns}
    bad = [
        {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]},
        {"messages": [{"role": "user", "content": "only the user"}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": " "}]},
        {"nothing": 1},
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [good, *bad, good]) + "\n\n", "utf-8")
    convs = read_conversations(path)
    assert len(convs) == 2 and convs[0].lang == "en" and convs[0].source == "c.jsonl"
    zh = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "嗨"}]}
    path.write_text(json.dumps(zh, ensure_ascii=False), "utf-8")
    assert read_conversations(path)[0].lang == "zh"


def test_everyday_chat_file_is_well_formed_and_balanced():
    convs = read_conversations(everyday_chat_path())
    assert len(convs) >= 600
    assert language_counts(convs) == {"en": 345, "zh": 345}


def test_first_exchanges_and_unusable_replies():
    conv = _conv("a", "b", "c", "d")
    assert [m.content for m in first_exchanges(conv, 1).messages] == ["a", "b"]
    assert usable_reply("That sounds hard. What helps you unwind?")
    for text in (
        "Read more at https://example.org",
        "Try these:\n1. sleep\n2. eat",
        "- breathe\n- walk",
        "Email me at me@clinic.com",
        "Feel free to schedule a session at my office.",
    ):
        assert not usable_reply(text), text


def test_conversation_mix_is_seeded_and_counts_every_source():
    public = {
        "en_x.jsonl": [_conv(f"q{i}", f"a{i}", "more", "again") for i in range(10)],
        "zh_y.jsonl": [_conv(f"问{i}", f"答{i}", lang="zh") for i in range(3)]
        + [_conv("问", "见 https://x.cn", lang="zh")],
    }
    everyday = [_conv("hi", "hello"), _conv("你好", "嗨", lang="zh")]

    def mix(seed: int) -> list[Conversation]:
        return conversation_mix(
            public, everyday, per_source=4, exchanges=1, everyday_repeat=2, rng=random.Random(seed)
        )

    first = mix(0)
    assert first == mix(0) and first != mix(1)
    assert len(first) == 4 + 3 + 4  # the link reply is dropped; everyday twice
    assert all(len(c.messages) == 2 for c in first)
    assert language_counts(first) == {"en": 6, "zh": 5}


def test_loss_positions_are_exactly_the_assistant_tokens_and_their_end():
    engine = FakeEngine()
    seqs = ConversationTokens(ChatML(engine), chat_prompt("c1-adapter"), max_tokens=10_000)
    example = seqs.example(_conv("I passed!", "Well done.", "thanks", "Any time."))
    learned = [example.tokens[p + 1] for p in example.targets]
    end = CONTROL["<|im_end|>"]
    assert learned == [*b"Well done.", end, *b"Any time.", end]
    text = bytes(t for t in example.tokens if t < 256).decode()
    assert text.startswith("system\n") and "I passed!" in text


def test_a_conversation_too_long_keeps_its_first_exchanges_that_fit():
    engine = FakeEngine()
    prompt = chat_prompt("c1-adapter")
    seqs = ConversationTokens(ChatML(engine), prompt, max_tokens=400)
    example = seqs.example(_conv("hi", "hello", "x" * 500, "y"))
    learned = bytes(example.tokens[p + 1] for p in example.targets if example.tokens[p + 1] < 256)
    assert learned == b"hello" and len(example.tokens) <= 400
    tight = ConversationTokens(ChatML(engine), prompt, max_tokens=20)
    assert tight.example(_conv("hi", "hello")) is None


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_prefix_is_the_serving_prompt_in_the_conversation_language(lang):
    engine = FakeEngine()
    prompt = chat_prompt("c1-adapter")
    seqs = ConversationTokens(ChatML(engine), prompt, max_tokens=10_000)
    example = seqs.example(_conv("hi", "hello", lang=lang))
    assert bytes(t for t in example.tokens if t < 256).decode().count(prompt.system(lang)) == 1
