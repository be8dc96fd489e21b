"""How a reply's tokens are chosen: one ``SamplingParams``, one chain of stages, one loop.

Contract:
- ``SamplingParams`` holds every knob, validated at construction. ``temperature == 0``
  means greedy: the arg-max of the model's logits, with no penalty, no DRY and no
  truncation (``GREEDY`` is that), so greedy replies can be compared token for token.
- ``sampler_stages(params, n_ctx=...)`` is the one mapping from those knobs to an ordered
  chain of ``Stage``s, the order llama.cpp's own default chain uses: penalties (repeat,
  frequency, presence) over the last ``penalty_last_n`` tokens of the whole context, DRY,
  top-k, top-p, min-p, temperature, then a seeded draw (``dist``) - or just ``greedy``.
  Stages that would do nothing are left out; ``-1`` windows are resolved to ``n_ctx``; a
  seed of ``None`` becomes a fresh random one, so every reply has its own seed.
  The llama.cpp backend builds its native sampler chain from these stages
  (``engine.llama_sampler``), the transformers backend its logits processors
  (``engine.hf_sampler``).
- A ``TokenSampler`` is one reply's sampler: ``accept(token)`` feeds a token of the context
  (the prompt, history included, then each generated token), ``pick(logits)`` chooses the
  next token from a logits vector (never modified), ``close()`` frees what it holds.
- ``decode_loop`` is the one generation loop (stop conditions included) every backend runs.
- ``sample_token`` is a small numpy sampler kept for the fake engine of the tests
  (``tests/fakes.py``); no backend uses it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

# llama.cpp's default DRY sequence breakers: a repeat never extends across them.
DRY_BREAKERS = ("\n", ":", '"', "*")
# Seeds are folded into [0, 2**32 - 2]: llama.cpp reads 0xFFFFFFFF as "pick a random seed".
SEED_MODULUS = 2**32 - 1


@dataclass(frozen=True)
class SamplingParams:
    """How to choose the next token.

    ``top_p``, ``top_k`` and ``repetition_penalty`` follow Qwen2.5's generation config;
    ``temperature`` is 0.3, not its 0.7: read blind, the default model's replies at 0.3
    were preferred in 62% of decided pairs over 0.7, with and without a preference step,
    and wrote nonsense less often (docs/chat-quality.md, "Sampling temperature").
    ``min_p`` drops tokens less likely than ``min_p`` times the most likely one (0 = off).
    The repeat penalty divides (or, if negative, multiplies) the logit of every token seen
    in the last ``penalty_last_n`` tokens of the context (prompt and history included; -1 =
    the whole context, 0 = off); ``frequency_penalty`` subtracts that much per occurrence
    and ``presence_penalty`` once (OpenAI style, 0 = off).
    DRY ("don't repeat yourself") lowers a token that would extend a sequence already seen
    in the last ``dry_penalty_last_n`` tokens (-1 = whole context) by
    ``dry_multiplier * dry_base ** (length - dry_allowed_length)`` once the repeat is at
    least ``dry_allowed_length`` tokens long (``dry_multiplier`` 0 = off). ``seed`` makes a
    reply reproducible; ``None`` draws a fresh seed per reply.
    """

    temperature: float = 0.3
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.05
    repetition_penalty: float = 1.05
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 256
    dry_multiplier: float = 0.8
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.temperature >= 0, "temperature must be >= 0 (0 = greedy)"),
            (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
            (self.top_k >= 0, "top_k must be >= 0 (0 = off)"),
            (0 <= self.min_p < 1, "min_p must be in [0, 1) (0 = off)"),
            (self.repetition_penalty > 0, "repetition_penalty must be > 0 (1 = off)"),
            (-2 <= self.frequency_penalty <= 2, "frequency_penalty must be in [-2, 2]"),
            (-2 <= self.presence_penalty <= 2, "presence_penalty must be in [-2, 2]"),
            (self.penalty_last_n >= -1, "penalty_last_n must be >= -1 (-1 = whole context)"),
            (self.dry_multiplier >= 0, "dry_multiplier must be >= 0 (0 = off)"),
            (self.dry_base >= 1, "dry_base must be >= 1"),
            (self.dry_allowed_length >= 1, "dry_allowed_length must be >= 1"),
            (self.dry_penalty_last_n >= -1, "dry_penalty_last_n must be >= -1"),
            (self.seed is None or self.seed >= 0, "seed must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


GREEDY = SamplingParams(
    temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, repetition_penalty=1.0, dry_multiplier=0.0
)


class Stage(NamedTuple):
    """One step of a sampler chain: its name and its arguments."""

    name: str
    args: dict[str, Any]


def _window(last_n: int, n_ctx: int) -> int:
    return n_ctx if last_n == -1 else min(last_n, n_ctx)


def _penalty_stages(p: SamplingParams, n_ctx: int) -> list[Stage]:
    stages: list[Stage] = []
    last_n = _window(p.penalty_last_n, n_ctx)
    active = (p.repetition_penalty, p.frequency_penalty, p.presence_penalty) != (1.0, 0.0, 0.0)
    if last_n > 0 and active:
        stages.append(
            Stage(
                "penalties",
                {
                    "last_n": last_n,
                    "repeat": p.repetition_penalty,
                    "frequency": p.frequency_penalty,
                    "presence": p.presence_penalty,
                },
            )
        )
    dry_n = _window(p.dry_penalty_last_n, n_ctx)
    if p.dry_multiplier > 0 and dry_n > 0:
        stages.append(
            Stage(
                "dry",
                {
                    "multiplier": p.dry_multiplier,
                    "base": p.dry_base,
                    "allowed_length": p.dry_allowed_length,
                    "last_n": dry_n,
                    "breakers": DRY_BREAKERS,
                },
            )
        )
    return stages


def sampler_stages(params: SamplingParams, *, n_ctx: int) -> list[Stage]:
    """The chain both backends build for ``params`` (see the module contract)."""
    if params.greedy:
        return [Stage("greedy", {})]
    stages = _penalty_stages(params, n_ctx)
    if params.top_k > 0:
        stages.append(Stage("top_k", {"k": params.top_k}))
    if params.top_p < 1:
        stages.append(Stage("top_p", {"p": params.top_p}))
    if params.min_p > 0:
        stages.append(Stage("min_p", {"p": params.min_p}))
    if params.temperature != 1:
        stages.append(Stage("temperature", {"t": params.temperature}))
    seed = secrets.randbelow(SEED_MODULUS) if params.seed is None else params.seed
    stages.append(Stage("dist", {"seed": seed % SEED_MODULUS}))
    return stages


def context_window(stages: Sequence[Stage]) -> int:
    """How many trailing context tokens the stateful stages look at (0 = none)."""
    return max((int(s.args["last_n"]) for s in stages if "last_n" in s.args), default=0)


class TokenSampler(Protocol):
    """One reply's sampler (see the module contract)."""

    def accept(self, token: int) -> None: ...

    def pick(self, logits: np.ndarray) -> int: ...

    def close(self) -> None: ...


def sample_token(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    history: Sequence[int] = (),
) -> int:
    """The test fake's sampler: repeat penalty, top-k, top-p, min-p, temperature, draw."""
    scores = np.array(logits, dtype=np.float64, copy=True)
    if params.greedy:
        return int(np.argmax(scores))
    if history and params.repetition_penalty != 1.0:
        seen = np.fromiter(set(history), dtype=np.int64)
        vals = scores[seen]
        penalty = params.repetition_penalty
        scores[seen] = np.where(vals > 0, vals / penalty, vals * penalty)
    ids = np.argsort(-scores, kind="stable")
    if params.top_k > 0:
        ids = ids[: params.top_k]
    probs = np.exp(scores[ids] - scores[ids[0]])
    keep = int(np.searchsorted(np.cumsum(probs / probs.sum()), params.top_p)) + 1
    keep = min(keep, int(np.count_nonzero(probs >= params.min_p)))
    ids = ids[: max(keep, 1)]
    probs = np.exp((scores[ids] - scores[ids[0]]) / params.temperature)
    return int(ids[rng.choice(len(ids), p=probs / probs.sum())])


def decode_loop(
    logits: np.ndarray,
    step: Callable[[int, int], np.ndarray],
    *,
    pos: int,
    n_ctx: int,
    max_new_tokens: int,
    sampler: TokenSampler,
    stops: frozenset[int],
    should_stop: Callable[[], bool] | None = None,
    first_banned: np.ndarray | None = None,
    banned: np.ndarray | None = None,
) -> Iterator[int]:
    """The generation loop every backend shares.

    From the ``logits`` after the prompt, ``sampler.pick`` a token, yield it, ``accept`` it
    and feed it back with ``step(token, pos)`` (which returns the next logits), until
    ``max_new_tokens`` tokens, the end of the context, a stop token (never yielded) or
    ``should_stop()``. The token ids in ``first_banned`` cannot be the first one picked,
    those in ``banned`` none. The caller owns ``sampler`` (and closes it).
    """
    produced = 0
    while produced < max_new_tokens and pos < n_ctx:
        if should_stop is not None and should_stop():
            return
        for ids in (banned, first_banned if produced == 0 else None):
            if ids is not None and len(ids):
                logits = np.array(logits, dtype=np.float32, copy=True)
                logits[np.asarray(ids, dtype=np.int64)] = -np.inf
        token = sampler.pick(logits)
        if token in stops:
            return
        produced += 1
        yield token
        sampler.accept(token)
        logits = step(token, pos)
        pos += 1
