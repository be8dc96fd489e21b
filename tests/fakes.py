"""Small fakes for unit tests: a byte-level engine with scripted behaviour.

``FakeEngine`` implements the ``Engine`` interface over a 259-token vocabulary: token ids
0-255 are single UTF-8 bytes (so multi-byte characters are split across tokens, as real
BPE can do), 256-258 are the control tokens ``<|im_start|>``, ``<|im_end|>``,
``<|endoftext|>``. Scoring favours the first byte of ``positive_word`` when the text after
the prefix contains ``happy`` and of ``negative_word`` otherwise; generation emits
``reply`` byte by byte, then ``<|im_end|>``. It counts the tokens it evaluates, so tests
can check that cached prefixes are evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.sampling import SamplingParams, sample_token

CONTROL = {"<|im_start|>": 256, "<|im_end|>": 257, "<|endoftext|>": 258}
VOCAB = 259


class FakeEngine(Engine):
    backend = "fake"
    n_vocab = VOCAB

    def __init__(
        self,
        reply: str = "我在，慢慢说。",
        positive_word: str = "正面",
        negative_word: str = "负面",
    ) -> None:
        self.model_path = "fake.gguf"
        self.n_ctx = 4096
        self.n_threads = 1
        self.reply = reply
        self.pos_first = positive_word.encode()[0]
        self.neg_first = negative_word.encode()[0]
        self.prefixes: dict[int, tuple[int, ...]] = {}
        self.evaluated_tokens = 0
        self.generated: list[int] = []
        self.closed_generations = 0
        self.adapters: list[str] = []
        self.scored_with: list[int | None] = []
        self.generated_with: list[int | None] = []
        self.first_banned: list[np.ndarray | None] = []
        self.banned: list[np.ndarray | None] = []

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def control_token(self, name: str) -> int:
        return CONTROL[name]

    def token_bytes(self, token: int) -> bytes:
        return bytes([token]) if token < 256 else b""

    def is_control(self, token: int) -> bool:
        return token >= 256

    @property
    def end_tokens(self) -> frozenset[int]:
        return frozenset({CONTROL["<|endoftext|>"]})

    def cache_prefix(self, tokens: Sequence[int], adapter: int | None = None) -> Prefix:
        assert adapter is None or 0 < adapter <= len(self.adapters)
        self.evaluated_tokens += len(tokens)
        handle = len(self.prefixes)
        self.prefixes[handle] = tuple(tokens)
        return Prefix(handle, tuple(tokens), adapter)

    def load_adapter(self, path: str) -> int:
        self.adapters.append(str(path))
        return len(self.adapters)

    def next_logits(self, prefix: Prefix, tokens: Sequence[int]) -> np.ndarray:
        assert prefix.handle in self.prefixes
        self.scored_with.append(prefix.adapter)
        self.evaluated_tokens += len(tokens)
        logits = np.zeros(VOCAB, dtype=np.float32)
        happy = b"happy" in bytes(t for t in tokens if t < 256)
        logits[self.pos_first if happy else self.neg_first] = 5.0
        logits[self.neg_first if happy else self.pos_first] = 1.0
        return logits

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
        self.evaluated_tokens += len(tokens)
        self.generated_with.append(prefix.adapter)
        self.first_banned.append(first_banned)
        self.banned.append(banned)
        script = [*self.reply.encode("utf-8"), CONTROL["<|im_end|>"]]
        stops = self.end_tokens | (stop_tokens or frozenset())
        rng = np.random.default_rng(0)
        try:
            for want in script[:max_new_tokens]:
                if should_stop is not None and should_stop():
                    return
                logits = np.full(VOCAB, -10.0, dtype=np.float32)
                logits[want] = 10.0
                token = sample_token(logits, sampling, rng)
                if token in stops:
                    return
                self.generated.append(token)
                yield token
        finally:
            self.closed_generations += 1
