"""Validation of user text before any role sees it.

Contract: ``clean_text`` returns a stripped ``str`` or raises ``InputError`` with a message
a person can act on. Bytes must be valid UTF-8 (the error names the offset); a ``str``
holding lone surrogates (undecodable bytes smuggled through ``surrogateescape`` or JSON
``\ud800`` escapes) is refused the same way; NUL characters are dropped; empty or
whitespace-only text is refused; text longer than ``max_chars`` is refused.
``head_tail`` is the defined truncation for token sequences that are too long: it keeps
the beginning and the end, where reviews and messages put their verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from moodchat.errors import InputError

MAX_TEXT_CHARS = 32_000


def clean_text(text: object, *, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Validate and normalise one user text."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"text is not valid UTF-8 (bad byte at offset {err.start})") from None
    if not isinstance(text, str):
        raise InputError(f"text must be a string, not {type(text).__name__}")
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise InputError(
            "text is not valid UTF-8 (it contains undecodable bytes or lone surrogates)"
        )
    text = text.replace("\x00", "")
    if len(text) > max_chars:
        raise InputError(f"text is too long: {len(text)} characters (the limit is {max_chars})")
    text = text.strip()
    if not text:
        raise InputError("text is empty")
    return text


def language_of(text: str) -> str:
    """``zh`` when the text contains CJK ideographs, else ``en``."""
    return (
        "zh"
        if any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)
        else "en"
    )


def pick_language(text: str, available: Iterable[str], fallback: str) -> str:
    """The language of ``text`` if it is among ``available``, else ``fallback``.

    The one place a role (or the benchmark's naive prompt) chooses a per-language variant.
    """
    lang = language_of(text)
    return lang if lang in set(available) else fallback


def head_tail(tokens: Sequence[int], limit: int) -> tuple[list[int], bool]:
    """At most ``limit`` tokens: the first half and the last half; flag if cut."""
    if len(tokens) <= limit:
        return list(tokens), False
    head = limit // 2
    return [*tokens[:head], *tokens[len(tokens) - (limit - head) :]], True
