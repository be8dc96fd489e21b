"""One seeded reply of an assistant to one moment: what the judging scripts play.

Contract: ``reply_to(bot, text, history, seed, max_tokens)`` runs ``bot.respond`` with the
serving settings and ``SamplingParams(seed=seed)`` and returns the finished reply (the
safety rule's fixed reply included), or ``""`` if the stream ended without one.
"""

from __future__ import annotations

from collections.abc import Sequence

from moodchat.engine.sampling import SamplingParams
from moodchat.types import DoneEvent, Message


def reply_to(bot, text: str, history: Sequence[Message], seed: int, max_tokens: int) -> str:
    """The assistant's whole reply to ``text`` after ``history``."""
    done = None
    sampling = SamplingParams(seed=seed)
    for event in bot.respond(text, list(history), max_new_tokens=max_tokens, sampling=sampling):
        if isinstance(event, DoneEvent):
            done = event
    return done.reply if done else ""
