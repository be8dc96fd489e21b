"""Role prompts as versioned data (``sentiment.json``, ``chat.json`` beside this file).

Contract: ``sentiment_prompt(name)`` and ``chat_prompt(name)`` return frozen dataclasses
read from the JSON files; ``name=None`` or ``"default"`` gives the version the file marks as
default. ``prompt_names(role)`` lists the versions in file order. Unknown names raise
``KeyError`` listing the known ones. Nothing here touches a model.

A sentiment version may carry ``answer_prefix`` (text the assistant turn starts with, costing
its few tokens per request) and ``languages``: per-language overrides (``zh``, ``en``) of
``system``, ``answers``, ``examples`` and ``answer_prefix``. ``SentimentPrompt.for_text``
gives the variant for a text's language (the top-level fields when none is listed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

from moodchat.inputs import language_of
from moodchat.types import BINARY_LABELS, LABELS, Label


@dataclass(frozen=True)
class Example:
    """One labelled example shown to the sentiment analyst in its cached prefix."""

    text: str
    label: Label


@dataclass(frozen=True)
class SentimentPrompt:
    """A version of the sentiment analyst's instructions."""

    name: str
    system: str
    answers: dict[str, str]
    examples: tuple[Example, ...] = ()
    calibrate: bool = False
    temperature: float = 1.0
    description: str = ""
    content_free_inputs: tuple[str, ...] = field(default=("N/A",))
    answer_prefix: str = ""
    languages: tuple[tuple[str, SentimentPrompt], ...] = ()

    @property
    def labels(self) -> tuple[Label, ...]:
        """The labels this prompt has answer words for, in ``LABELS`` order."""
        return tuple(lab for lab in LABELS if lab in self.answers)

    def answer(self, label: Label) -> str:
        """The word the analyst answers for ``label`` (the one place labels become text)."""
        return self.answers[label]

    def for_language(self, language: str) -> SentimentPrompt:
        """The variant for ``language`` (``zh`` / ``en``); this prompt if none is listed."""
        return dict(self.languages).get(language, self)

    def for_text(self, text: str) -> SentimentPrompt:
        """The variant for the language of ``text``."""
        return self.for_language(language_of(text)) if self.languages else self


@dataclass(frozen=True)
class ChatPrompt:
    """A version of the empathetic assistant's instructions, one system text per language."""

    name: str
    systems: dict[str, str]
    examples: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    description: str = ""

    def system(self, language: str) -> str:
        """System text for ``language`` (``zh`` or ``en``), falling back to English."""
        return self.systems.get(language) or self.systems["en"]


@cache
def _load(role: str) -> dict:
    text = resources.files("moodchat.prompts").joinpath(f"{role}.json").read_text("utf-8")
    return json.loads(text)


def prompt_names(role: str) -> list[str]:
    """Version names for ``role`` (``sentiment`` or ``chat``), in file order."""
    return list(_load(role)["versions"])


def default_prompt_name(role: str) -> str:
    """The version ``role`` uses unless told otherwise."""
    return _load(role)["default"]


def _version(role: str, name: str | None) -> tuple[str, dict]:
    data = _load(role)
    key = data["default"] if name in (None, "", "default") else name
    if key not in data["versions"]:
        known = ", ".join(data["versions"])
        raise KeyError(f"no {role} prompt named {name!r}; known: {known}")
    return key, data["versions"][key]


def sentiment_prompt(name: str | None = None) -> SentimentPrompt:
    """Load a sentiment prompt version."""
    key, v = _version("sentiment", name)
    base = _sentiment_variant(key, v, {})
    langs = tuple(
        (lang, _sentiment_variant(f"{key}/{lang}", v, over))
        for lang, over in v.get("languages", {}).items()
    )
    return replace(base, languages=langs)


def _sentiment_variant(key: str, v: dict, over: dict) -> SentimentPrompt:
    merged = v | over
    if set(merged["answers"]) not in (set(BINARY_LABELS), set(LABELS)):
        raise ValueError(
            f"sentiment prompt {key!r} must give answers for {BINARY_LABELS} or {LABELS}"
        )
    if float(merged.get("temperature", 1.0)) <= 0:
        raise ValueError(f"sentiment prompt {key!r}: temperature must be positive")
    return SentimentPrompt(
        name=key,
        system=merged["system"],
        answers=dict(merged["answers"]),
        examples=tuple(Example(e["text"], e["label"]) for e in merged.get("examples", [])),
        calibrate=bool(v.get("calibrate", False)),
        temperature=float(merged.get("temperature", 1.0)),
        description=v.get("description", ""),
        content_free_inputs=tuple(_load("sentiment").get("content_free_inputs", ["N/A"])),
        answer_prefix=merged.get("answer_prefix", ""),
    )


def chat_prompt(name: str | None = None) -> ChatPrompt:
    """Load a chat prompt version."""
    key, v = _version("chat", name)
    systems = v["system"] if isinstance(v["system"], dict) else {"en": v["system"]}
    if "en" not in systems:
        raise ValueError(f"chat prompt {key!r} needs an 'en' system text")
    examples = {
        lang: tuple((user, reply) for user, reply in pairs)
        for lang, pairs in v.get("examples", {}).items()
    }
    return ChatPrompt(key, dict(systems), examples, v.get("description", ""))
