"""Plain data types shared by the roles, the assistant API and its front ends.

Contract: immutable dataclasses with no behaviour beyond conversion to JSON-ready dicts.
``Assistant.respond`` yields exactly one ``SentimentEvent``, then zero or more
``TokenEvent`` (each a whole number of UTF-8 characters), then exactly one ``DoneEvent``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Label = Literal["positive", "negative", "neutral"]
# Every label in the order the analyst scores them; binary reading uses the first two.
LABELS: tuple[Label, Label, Label] = ("positive", "negative", "neutral")
BINARY_LABELS: tuple[Label, Label] = ("positive", "negative")
LABEL_SETS = ("three", "binary")  # RoleOptions.labels: neutral included, or the seed's two


@dataclass(frozen=True)
class Message:
    """One turn of a conversation; ``role`` is ``user`` or ``assistant``."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Sentiment:
    """The sentiment analyst's verdict on one text.

    ``probabilities`` has one entry per label read (three, or two when reading binary or
    with a prompt that has no neutral answer); ``confidence`` is the chosen label's.
    ``context_tokens`` counts the previous user turn the analyst read before the text.
    """

    label: Label
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    n_tokens: int = 0
    latency_ms: float = 0.0
    crisis: bool = False  # the text speaks of self-harm or suicide (a rule, not the model)
    context_tokens: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict of all fields."""
        return asdict(self)


@dataclass(frozen=True)
class SentimentEvent:
    """First event of a response: the mood of the user's message."""

    sentiment: Sentiment
    type: Literal["sentiment"] = "sentiment"


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the reply; always whole UTF-8 characters."""

    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class DoneEvent:
    """Last event of a response, with the whole reply and its costs."""

    reply: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    truncated_input: bool = False
    type: Literal["done"] = "done"

    def to_dict(self) -> dict:
        """A JSON-ready dict of all fields."""
        return asdict(self)


Event = SentimentEvent | TokenEvent | DoneEvent
