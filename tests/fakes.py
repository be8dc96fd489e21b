"""Small fakes for unit tests: a byte-level engine with scripted behaviour.

``FakeEngine`` implements the ``Engine`` interface over a 259-token vocabulary: token ids
0-255 are single UTF-8 bytes (so multi-byte characters are split across tokens, as real
BPE can do), 256-258 are the control tokens ``<|im_start|>``, ``<|im_end|>``,
``<|endoftext|>``. Scoring favours the first byte of ``positive_word`` when the text after
the prefix contains ``happy`` (after the context marker, when the analyst reads a previous
turn first), of ``neutral_word`` when it contains ``fyi``, and of ``negative_word``
otherwise; ``scored`` keeps every scored text. Generation emits
``reply`` byte by byte, then ``<|im_end|>``. It counts the tokens it evaluates, so tests
can check that cached prefixes are evaluated once.

``SlowEngine`` is a ``FakeEngine`` whose generation waits ``delay`` seconds per token, for
queue and disconnect tests.

``CoalescingFakeEngine`` scores through a real ``scheduling.ScoreCoalescer`` on its own
``StepLock`` (``lock``), as the real engines do: ``decodes`` counts scoring passes, each
taking ``decode_delay`` seconds and raising ``fail_with`` when set. Its logits also depend
on each text's length, so two texts of the same mood get different confidences and a
result handed to the wrong caller shows.

``behind_a_step(lock, queued, n, fn, args_list)`` calls ``fn`` from one thread per args
while a "chat step" holds ``lock``, and frees the lock once ``queued()`` reaches ``n``: the
way to have requests arrive while a step runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from moodchat.engine.base import Engine, Prefix
from moodchat.engine.sampling import SamplingParams, sample_token
from moodchat.engine.scheduling import GENERATE_PRIORITY, ScoreCoalescer, StepLock
from moodchat.roles.sentiment import CONTEXT_CLOSE

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
        neutral_word: str = "中性",
    ) -> None:
        self.model_path = "fake.gguf"
        self.n_ctx = 4096
        self.n_threads = 1
        self.reply = reply
        self.pos_first = positive_word.encode()[0]
        self.neg_first = negative_word.encode()[0]
        self.neu_first = neutral_word.encode()[0]
        self.scored: list[bytes] = []
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
        text = bytes(t for t in tokens if t < 256)
        self.scored.append(text)
        message = text.rpartition(CONTEXT_CLOSE.encode())[2]
        happy = b"happy" in message
        logits = np.zeros(VOCAB, dtype=np.float32)
        logits[self.pos_first if happy else self.neg_first] = 5.0
        logits[self.neg_first if happy else self.pos_first] = 1.0
        if b"fyi" in message:
            logits[self.neu_first] = 6.0
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


class SlowEngine(FakeEngine):
    """A fake engine that takes ``delay`` seconds per generated token."""

    def __init__(self, delay: float = 0.02, reply: str = "x" * 200) -> None:
        super().__init__(reply=reply)
        self.delay = delay

    def generate(self, *args, **kwargs):
        for token in super().generate(*args, **kwargs):
            time.sleep(self.delay)
            yield token


class CoalescingFakeEngine(FakeEngine):
    """A ``FakeEngine`` whose scoring requests from all threads are coalesced."""

    def __init__(self, decode_delay: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lock = StepLock()
        self.scorer = ScoreCoalescer(self.lock, self._score_all)
        self.decode_delay = decode_delay
        self.fail_with: Exception | None = None
        self.decodes = 0

    def next_logits(self, prefix: Prefix, tokens: Sequence[int]) -> np.ndarray:
        return self.next_logits_many(prefix, [tokens])[0]

    def next_logits_many(self, prefix: Prefix, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        return self.scorer.score((prefix, [list(tokens) for tokens in batch]))

    def _score_all(self, requests: list[tuple[Prefix, list[list[int]]]]) -> list:
        self.decodes += 1
        time.sleep(self.decode_delay)
        if self.fail_with is not None:
            raise self.fail_with
        return [[self._one(prefix, tokens) for tokens in batch] for prefix, batch in requests]

    def _one(self, prefix: Prefix, tokens: list[int]) -> np.ndarray:
        logits = FakeEngine.next_logits(self, prefix, tokens)
        logits[self.pos_first] += 0.01 * len(tokens)
        return logits


def behind_a_step(
    lock: StepLock, queued: Callable[[], int], n: int, fn: Callable, args_list: list[tuple]
) -> list:
    """Results (or raised errors) of ``fn(*args)`` per args, called while a step held ``lock``
    until ``n`` requests were queued (a bounded wait: 10 s, then ``TimeoutError``)."""
    release, holding = threading.Event(), threading.Event()
    out: list = [None] * len(args_list)

    def step() -> None:
        with lock.hold(GENERATE_PRIORITY):
            holding.set()
            release.wait(10)

    def call(i: int, args: tuple) -> None:
        try:
            out[i] = fn(*args)
        except Exception as err:
            out[i] = err

    stepper = threading.Thread(target=step)
    stepper.start()
    holding.wait(10)
    threads = [threading.Thread(target=call, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    end = time.monotonic() + 10
    while queued() < n and time.monotonic() < end:
        time.sleep(0.001)
    reached = queued() >= n
    release.set()
    for t in [stepper, *threads]:
        t.join(60)
    if not reached:
        raise TimeoutError(f"only {queued()} of {n} requests queued behind the step")
    return out
