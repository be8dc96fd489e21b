"""Conversations for the chat adapter: reading, filtering, and a balanced seeded mix.

Contract:
- ``read_conversations(path, source)`` reads JSONL lines ``{"messages": [{"role", "content"}],
  ...}`` whose turns alternate user / assistant, starting with the user and ending with the
  assistant; other lines are skipped. Each ``Conversation`` records its language (the
  line's ``lang``, else the language of its first message) and where it came from.
- ``first_exchanges(conv, n)`` keeps the first ``n`` user/assistant exchanges.
- ``usable_reply(text)`` is False for counselor answers this product should not imitate:
  links, lists, e-mail addresses, or a therapist advertising sessions.
- ``conversation_mix(public, everyday, ...)`` draws a seeded sample of each public file
  (filtered, cut to its first exchanges) and repeats the everyday conversations written for
  moodchat; same seed, same mix, same order.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from moodchat.inputs import pick_language
from moodchat.types import Message

_UNWANTED = re.compile(
    r"https?://|www\.|@\w+\.\w|^\s*(?:\d+[.)、]|[-*•])\s|(?:my|our) (?:office|practice|clinic)"
    r"|(?:book|schedule) (?:a|an) (?:session|appointment)|I am a (?:licensed )?(?:therapist|"
    r"counselor)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Conversation:
    """Alternating user/assistant turns, the language and the file they came from."""

    messages: tuple[Message, ...]
    lang: str
    source: str


def _conversation(line: dict, source: str) -> Conversation | None:
    raw = line.get("messages")
    if not isinstance(raw, list) or len(raw) < 2 or len(raw) % 2:
        return None
    messages = []
    for i, m in enumerate(raw):
        role, content = m.get("role"), m.get("content")
        if role != ("user", "assistant")[i % 2] or not isinstance(content, str):
            return None
        if not content.strip():
            return None
        messages.append(Message(role, content.strip()))
    lang = line.get("lang") or pick_language(messages[0].content, ("zh", "en"), fallback="en")
    return Conversation(tuple(messages), lang, source)


def read_conversations(path: str | Path, source: str | None = None) -> list[Conversation]:
    """The well-formed conversations of a JSONL file, in file order."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for text in f:
            if not text.strip():
                continue
            conv = _conversation(json.loads(text), source or path.name)
            if conv is not None:
                out.append(conv)
    return out


def first_exchanges(conv: Conversation, n: int) -> Conversation:
    """``conv`` cut to its first ``n`` user/assistant exchanges."""
    return replace(conv, messages=conv.messages[: 2 * n])


def usable_reply(text: str) -> bool:
    """True when a public counselor answer is one this product may learn from."""
    return _UNWANTED.search(text) is None


def _usable(conv: Conversation) -> bool:
    return all(usable_reply(m.content) for m in conv.messages if m.role == "assistant")


def conversation_mix(
    public: dict[str, Sequence[Conversation]],
    everyday: Sequence[Conversation],
    *,
    per_source: int,
    exchanges: int,
    everyday_repeat: int,
    rng: random.Random,
) -> list[Conversation]:
    """Up to ``per_source`` usable, cut conversations per public file, plus the everyday ones."""
    out: list[Conversation] = []
    for name in sorted(public):
        usable = [first_exchanges(c, exchanges) for c in public[name] if _usable(c)]
        out += rng.sample(usable, min(per_source, len(usable)))
    out += list(everyday) * everyday_repeat
    rng.shuffle(out)
    return out


def language_counts(convs: Iterable[Conversation]) -> dict[str, int]:
    """Conversations per language."""
    counts: dict[str, int] = {}
    for c in convs:
        counts[c.lang] = counts.get(c.lang, 0) + 1
    return dict(sorted(counts.items()))
