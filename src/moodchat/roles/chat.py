"""The empathetic assistant role: a streamed, warm reply with multi-turn history.

Contract:
- The system prompt is evaluated once per language (``Engine.cache_prefix``); the message's
  language picks the prefix; a request evaluates only its history, the new message and the
  opening of the assistant turn. ``chat_prefix_tokens`` builds that prefix, for serving and
  for ``moodchat train-chat`` alike.
- With a chat ``adapter`` (an engine adapter handle) the prefixes are cached with it, so
  every reply decodes with it; the sentiment role's sequences never do.
- History is trimmed to fit ``max_prompt_tokens``, dropping the oldest whole turns first;
  a message that alone is too long keeps its head and tail.
- ``stream`` yields ``str`` pieces that are always whole UTF-8 characters (bytes of a
  character split across tokens are held back until complete), then returns a
  ``ReplyStats`` as the generator's return value. At most ``max_new_tokens`` are generated;
  the end-of-turn token stops early. Closing the generator stops generation.
- A message about self-harm or suicide, or any later message of a conversation that spoke
  of it (``roles.safety.in_crisis``), gets a fixed caring reply of
  ``roles.safety.crisis_reply`` in its language, never a sample; the conversation's count
  of crisis replies so far picks the wording, so none is repeated word for word.
- A reply is in the language of the message (``inputs.language_of``): a reply to a Chinese
  message cannot open with a Latin-letter word (names and terms may follow), and a reply
  to an English message has no token with a CJK character (``off_language_tokens``,
  computed once per role from the vocabulary).
- ``complete_sentences(text)`` is what a reply cut by the token limit keeps: everything up
  to its last sentence end (。！？!?. ; …, closing quotes and brackets kept), or the text
  unchanged when it has no sentence end at all.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.sampling import SamplingParams
from moodchat.inputs import head_tail, language_of, pick_language
from moodchat.prompts import ChatPrompt
from moodchat.roles.safety import crisis_reply, in_crisis, is_crisis_reply
from moodchat.template import ChatML
from moodchat.types import Message

DEFAULT_MAX_NEW_TOKENS = 128
DEFAULT_MAX_PROMPT_TOKENS = 1024
DEFAULT_MAX_MESSAGE_TOKENS = 512


_CLOSERS = "”’\"')）」』"
_SENTENCE_END = re.compile(rf"(?:[。！？!?…]+|\.(?=[\s{_CLOSERS}]|$))[{_CLOSERS}]*")


def complete_sentences(text: str) -> str:
    """``text`` up to the end of its last complete sentence (unchanged if none ends)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].rstrip() if ends else text


@dataclass(frozen=True)
class ReplyStats:
    """What a finished reply cost."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    truncated_input: bool
    first_token_ms: float | None


class Utf8Stream:
    """Turns a stream of token byte-pieces into text without ever splitting a character."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, piece: bytes) -> str:
        """Text completed by ``piece`` (may be empty while a character is incomplete)."""
        return self._decoder.decode(piece)

    def flush(self) -> str:
        """Whatever is left at the end (an incomplete tail becomes U+FFFD)."""
        return self._decoder.decode(b"", final=True)


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def off_language_tokens(engine: Engine) -> dict[str, np.ndarray]:
    """Per language, the token ids that may not open a reply in it.

    ``zh``: tokens whose text starts with a Latin letter; ``en``: tokens with a CJK character
    or the lead byte of one (a character split across tokens)."""
    zh, en = [], []
    for token in range(engine.n_vocab):
        piece = engine.token_bytes(token)
        text = piece.decode("utf-8", errors="ignore").lstrip()
        if text[:1].isascii() and text[:1].isalpha():
            zh.append(token)
        elif any(map(_is_cjk, text)) or (piece[:1] and 0xE3 <= piece[0] <= 0xE9 and not text):
            en.append(token)
    return {"zh": np.array(zh, dtype=np.int64), "en": np.array(en, dtype=np.int64)}


def chat_prefix_tokens(template: ChatML, prompt: ChatPrompt, language: str) -> list[int]:
    """The cached part of every reply's prompt: the system turn and the worked examples."""
    tokens = template.turn("system", prompt.system(language))
    for user, reply in prompt.examples.get(language, ()):
        tokens += template.turn("user", user) + template.turn("assistant", reply)
    return tokens


class ChatRole:
    """Writes warm, empathetic replies."""

    def __init__(
        self,
        engine: Engine,
        template: ChatML,
        prompt: ChatPrompt,
        *,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
        max_message_tokens: int = DEFAULT_MAX_MESSAGE_TOKENS,
        adapter: int | None = None,
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.template = template
        self.prompt = prompt
        self.max_prompt_tokens = max_prompt_tokens
        self.max_message_tokens = max_message_tokens
        self.off_language = off_language_tokens(engine)
        self.prefixes = {
            lang: engine.cache_prefix(chat_prefix_tokens(template, prompt, lang), adapter=adapter)
            for lang in prompt.systems
        }

    def prefix_for(self, message: str) -> Prefix:
        """The cached system prefix in the message's language (English if none matches)."""
        return self.prefixes[pick_language(message, self.prefixes, fallback="en")]

    def build(self, message: str, history: Sequence[Message] = ()) -> tuple[list[int], bool]:
        """Request tokens (history + message + assistant opening) and whether text was cut."""
        t = self.template
        body, truncated = head_tail(t.text(message), self.max_message_tokens)
        tail = t.open_turn("user") + body + t.reply_start()
        turns = [t.turn(m.role, m.content) for m in history]
        budget = self.max_prompt_tokens - len(tail)
        kept: list[list[int]] = []
        for turn in reversed(turns):
            if len(turn) > budget:
                truncated = True
                break
            kept.append(turn)
            budget -= len(turn)
        return [tok for turn in reversed(kept) for tok in turn] + tail, truncated

    def _language_bans(self, language: str) -> dict[str, np.ndarray]:
        """``generate`` keywords that keep the reply in ``language``."""
        key = "banned" if language == "en" else "first_banned"
        return {key: self.off_language[language]}

    def _crisis(self, message: str, history: Sequence[Message]) -> Generator[str, None, ReplyStats]:
        """The safety rule's fixed reply, in the message's language (no sampling)."""
        given = sum(1 for m in history if m.role == "assistant" and is_crisis_reply(m.content))
        yield crisis_reply(pick_language(message, ("zh", "en"), fallback="en"), given)
        return ReplyStats("stop", 0, 0, False, 0.0)

    def stream(
        self,
        message: str,
        history: Sequence[Message] = (),
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        sampling: SamplingParams | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[str, None, ReplyStats]:
        """Yield the reply as text pieces; return its ``ReplyStats``."""
        if in_crisis(message, (m.content for m in history if m.role == "user")):
            return (yield from self._crisis(message, history))
        tokens, truncated = self.build(message, history)
        prefix = self.prefix_for(message)
        start = time.perf_counter()
        first_ms = None
        text = Utf8Stream()
        produced = 0
        for token in self.engine.generate(
            prefix,
            tokens,
            max_new_tokens=max_new_tokens,
            sampling=sampling or SamplingParams(),
            stop_tokens=self.template.stop_tokens,
            should_stop=should_stop,
            **self._language_bans(language_of(message)),
        ):
            produced += 1
            if first_ms is None:
                first_ms = (time.perf_counter() - start) * 1000
            piece = text.push(self.engine.token_bytes(token))
            if piece:
                yield piece
        rest = text.flush()
        if rest:
            yield rest
        cancelled = should_stop is not None and should_stop()
        reason = "cancelled" if cancelled else "length" if produced >= max_new_tokens else "stop"
        return ReplyStats(reason, len(prefix) + len(tokens), produced, truncated, first_ms)
