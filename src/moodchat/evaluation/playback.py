"""One seeded reply of an assistant to one moment: what the judging scripts play.

Contract: ``load_version(version)`` loads the default model with a chat adapter named as
the scripts name versions: a file, ``shipped`` (the package's adapter) or ``none``.
``reply_to(bot, text, history, seed, max_tokens, temperature=None)`` runs ``bot.respond``
with the serving settings and ``SamplingParams(seed=seed)`` (its temperature replaced when
one is given) and returns the finished reply (the safety rule's fixed reply included), or
``""`` if the stream ended without one.
"""

from __future__ import annotations

from collections.abc import Sequence

from moodchat.assistant import Assistant, RoleOptions
from moodchat.engine.sampling import SamplingParams
from moodchat.types import DoneEvent, Message


def reply_to(
    bot,
    text: str,
    history: Sequence[Message],
    seed: int,
    max_tokens: int,
    temperature: float | None = None,
) -> str:
    """The assistant's whole reply to ``text`` after ``history``."""
    done = None
    sampling = SamplingParams(seed=seed)
    if temperature is not None:
        sampling = SamplingParams(seed=seed, temperature=temperature)
    for event in bot.respond(text, list(history), max_new_tokens=max_tokens, sampling=sampling):
        if isinstance(event, DoneEvent):
            done = event
    return done.reply if done else ""


def load_version(version: str) -> Assistant:
    """The assistant of one judged version (adapter file, ``shipped`` or ``none``)."""
    adapter = {"shipped": None}.get(version, version)
    return Assistant.load(roles=RoleOptions(chat_adapter=adapter))
