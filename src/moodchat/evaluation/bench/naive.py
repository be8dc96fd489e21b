"""What the naive baselines share: prompts rebuilt as one ChatML string per message.

Contract: ``sentiment_prompt_text(text)`` renders moodchat's default sentiment prompt
(system text, examples, then the message) and ``chat_prompt_text(message)`` its default
chat prompt, both as the plain ChatML string the reference design built for every message,
so the baselines do the same task on the same words as moodchat, only without caching.
``parse_label`` maps generated text to a label the way a generate-then-parse stack must.
``chatml_tokens(engine, text)`` tokenizes such a string on a moodchat ``Engine`` the way
llama.cpp does with special tokens on: the ChatML markers become their control tokens and
the text between them is tokenized as plain text.
"""

from __future__ import annotations

import re

from moodchat.engine.base import Engine
from moodchat.inputs import pick_language
from moodchat.prompts import chat_prompt, sentiment_prompt

_MARKERS = re.compile(r"(<\|im_start\|>|<\|im_end\|>)")


def chatml_tokens(engine: Engine, text: str) -> list[int]:
    """Token ids of a ChatML string: markers as control tokens, the rest as plain text."""
    out: list[int] = []
    for part in _MARKERS.split(text):
        if part in ("<|im_start|>", "<|im_end|>"):
            out.append(engine.control_token(part))
        elif part:
            out.extend(engine.tokenize(part))
    return out


def _turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def sentiment_prompt_text(text: str) -> str:
    """The whole sentiment prompt for one message, default prompt version."""
    p = sentiment_prompt().for_text(text)
    out = _turn("system", p.system)
    for ex in p.examples:
        out += _turn("user", ex.text) + _turn("assistant", p.answer(ex.label))
    return out + _turn("user", text) + "<|im_start|>assistant\n" + p.answer_prefix


def chat_prompt_text(message: str) -> str:
    """The whole chat prompt for one message, default prompt version."""
    p = chat_prompt()
    lang = pick_language(message, p.systems, fallback="en")
    out = _turn("system", p.system(lang))
    for user, reply in p.examples.get(lang, ()):
        out += _turn("user", user) + _turn("assistant", reply)
    return out + _turn("user", message) + "<|im_start|>assistant\n"


def parse_label(generated: str, text: str) -> str | None:
    """``positive`` / ``negative`` if the generated text starts with an answer word."""
    p = sentiment_prompt().for_text(text)
    out = generated.strip()
    for label in ("positive", "negative"):
        if out.lower().startswith(p.answer(label).lower()):
            return label
    return None
