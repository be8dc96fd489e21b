"""The backend interface: what a model engine must do for the roles, and nothing more.

Contract:
- ``tokenize(text)`` treats ``text`` as plain text: strings such as ``<|im_start|>`` become
  ordinary text tokens, never control tokens. ``control_token(name)`` is the only way to
  get a control token id.
- ``cache_prefix(tokens, adapter=None)`` evaluates a fixed token sequence once and returns a
  ``Prefix`` handle; later calls that name the handle evaluate only their own new tokens.
  Different prefixes never evict each other. ``release_prefix`` frees one.
- ``load_adapter(path)`` loads a LoRA adapter once and returns its handle. A prefix cached
  with ``adapter=handle`` is computed with the adapter on, and so is every token scored or
  generated after it; every other prefix (the chat role's) runs on the bare base weights.
  So a role's adapter never changes another role's results.
- ``next_logits(prefix, tokens)`` returns the float32 logits over the vocabulary for the
  token that follows ``prefix + tokens`` (one forward pass over ``tokens``, no decoding).
- ``generate(prefix, tokens, ...)`` yields sampled token ids one at a time; closing the
  generator stops the work at the next token boundary and frees its state.
- Engines are safe to call from several threads: each model step is serialized, and
  scoring calls (short) are served before generation steps waiting at the same time;
  backends may score the calls of several threads together (``scheduling.ScoreCoalescer``)
  as long as each gets the logits it would get alone (up to float rounding).

The engine knows nothing of roles, prompts, labels or HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from moodchat.engine.sampling import SamplingParams
from moodchat.errors import AdapterError


@dataclass(frozen=True)
class Prefix:
    """A token sequence an engine has evaluated once and keeps for reuse."""

    handle: int
    tokens: tuple[int, ...]
    adapter: int | None = None

    def __len__(self) -> int:
        return len(self.tokens)


class Engine(ABC):
    """A loaded model that can tokenize, score next tokens and stream generations."""

    backend: str = "abstract"
    model_path: str = ""
    n_ctx: int = 0
    n_threads: int = 0
    n_vocab: int = 0  # token ids are 0 .. n_vocab - 1

    @abstractmethod
    def tokenize(self, text: str) -> list[int]:
        """Tokens of ``text`` as plain text (control-token strings stay text)."""

    @abstractmethod
    def control_token(self, name: str) -> int:
        """Id of the control token spelled ``name``; ``KeyError`` if the model has none."""

    @abstractmethod
    def token_bytes(self, token: int) -> bytes:
        """Raw bytes a token stands for (may be part of a UTF-8 character)."""

    @abstractmethod
    def is_control(self, token: int) -> bool:
        """True for control/special tokens (which plain text must never produce)."""

    @property
    @abstractmethod
    def end_tokens(self) -> frozenset[int]:
        """Token ids that end a generation (end of turn, end of text)."""

    @abstractmethod
    def cache_prefix(self, tokens: Sequence[int], adapter: int | None = None) -> Prefix:
        """Evaluate ``tokens`` once (with ``adapter`` on, if given) and keep the state."""

    def release_prefix(self, prefix: Prefix) -> None:  # noqa: B027 - optional hook
        """Free a cached prefix; the handle is unusable afterwards."""

    def load_adapter(self, path: str) -> int:
        """Load the LoRA adapter at ``path`` once; its handle goes to ``cache_prefix``."""
        raise AdapterError(f"the {self.backend} backend cannot load LoRA adapters")

    @abstractmethod
    def next_logits(self, prefix: Prefix, tokens: Sequence[int]) -> np.ndarray:
        """Logits for the token after ``prefix + tokens``; the prefix state is unchanged."""

    def next_logits_many(self, prefix: Prefix, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """``next_logits`` for many continuations of one prefix; backends may batch it."""
        return [self.next_logits(prefix, tokens) for tokens in batch]

    @abstractmethod
    def generate(
        self,
        prefix: Prefix,
        tokens: Sequence[int],
        *,
        max_new_tokens: int,
        sampling: SamplingParams,
        stop_tokens: frozenset[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
        first_banned: np.ndarray | None = None,
        banned: np.ndarray | None = None,
    ) -> Iterator[int]:
        """Sample up to ``max_new_tokens`` after ``prefix + tokens``; stops are not yielded.

        ``first_banned`` (token ids) may not be the first token of the reply, ``banned``
        not any of its tokens."""

    def info(self) -> dict:
        """Facts about the loaded model for ``moodchat info`` and ``/v1/models``."""
        return {
            "backend": self.backend,
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "threads": self.n_threads,
        }

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free native resources; the engine is unusable afterwards."""
