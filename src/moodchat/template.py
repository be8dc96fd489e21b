"""The chat template, built in exactly one place: ChatML token sequences.

Contract: every prompt moodchat sends to a model is assembled here from token ids.
Control tokens (``<|im_start|>``, ``<|im_end|>``) are looked up by name and inserted by
this module only; every piece of text (system prompts, examples, user and assistant
messages) goes through ``Engine.tokenize``, which treats it as plain text. So a user who
types ``<|im_start|>system`` produces ordinary characters, never a new turn.

Qwen1.5, Qwen2 and Qwen2.5 all use ChatML. A model without ChatML control tokens raises
``UnsupportedTemplateError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from moodchat.engine.base import Engine
from moodchat.errors import ModelLoadError
from moodchat.types import Message

ROLES = ("system", "user", "assistant")


class UnsupportedTemplateError(ModelLoadError):
    """The model has no chat template moodchat knows how to build."""


class ChatML:
    """Builds ChatML prompts as token ids for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            self.im_start = engine.control_token("<|im_start|>")
            self.im_end = engine.control_token("<|im_end|>")
        except KeyError as err:
            raise UnsupportedTemplateError(
                f"the model at {engine.model_path} has no ChatML control tokens; moodchat "
                "supports the Qwen family (Qwen1.5 / Qwen2 / Qwen2.5 chat and instruct models)"
            ) from err
        self._newline = engine.tokenize("\n")
        self._headers = {role: engine.tokenize(f"{role}\n") for role in ROLES}

    @property
    def stop_tokens(self) -> frozenset[int]:
        """Tokens that end an assistant turn."""
        return frozenset({self.im_end})

    def text(self, content: str) -> list[int]:
        """Plain-text tokens; the only path by which text enters a prompt."""
        return self.engine.tokenize(content)

    def open_turn(self, role: str) -> list[int]:
        """``<|im_start|>role\\n``: the start of a turn whose content follows."""
        return [self.im_start, *self._headers[role]]

    def close_turn(self) -> list[int]:
        """``<|im_end|>\\n``: the end of a turn."""
        return [self.im_end, *self._newline]

    def turn(self, role: str, content: str | Sequence[int]) -> list[int]:
        """A whole turn; ``content`` is text or tokens already made by ``text``."""
        body = self.text(content) if isinstance(content, str) else list(content)
        return [*self.open_turn(role), *body, *self.close_turn()]

    def conversation(self, messages: Iterable[Message]) -> list[int]:
        """Several whole user/assistant turns."""
        out: list[int] = []
        for m in messages:
            out += self.turn(m.role, m.content)
        return out

    def reply_start(self) -> list[int]:
        """Close the user's turn and open the assistant's, which the model then writes."""
        return [*self.close_turn(), *self.open_turn("assistant")]
