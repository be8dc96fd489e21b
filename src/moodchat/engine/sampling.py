"""Token sampling from a logits vector, shared by every backend.

Contract: ``sample_token(logits, params, rng, history)`` returns one token id. With
``temperature == 0`` it is the arg-max (deterministic); otherwise repetition penalty,
top-k, temperature, then top-p (nucleus) are applied in that order and a token is drawn
with ``rng``. The logits array is never modified in place. ``decode_loop`` is the one
generation loop (stop conditions included) that every backend runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    """How to choose the next token (defaults follow Qwen2.5's generation config)."""

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    repetition_penalty: float = 1.05
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0 (0 = off)")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0")


GREEDY = SamplingParams(temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0)


def penalize_repeats(logits: np.ndarray, history: Sequence[int], penalty: float) -> np.ndarray:
    """CTRL-style repetition penalty on tokens already generated (returns a copy)."""
    out = np.array(logits, dtype=np.float32, copy=True)
    if penalty == 1.0 or not history:
        return out
    seen = np.fromiter(set(history), dtype=np.int64)
    vals = out[seen]
    out[seen] = np.where(vals > 0, vals / penalty, vals * penalty)
    return out


def sample_token(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    history: Sequence[int] = (),
) -> int:
    """Pick the next token id from ``logits`` according to ``params``."""
    scores = penalize_repeats(logits, history, params.repetition_penalty)
    if params.temperature == 0:
        return int(np.argmax(scores))
    if 0 < params.top_k < scores.size:
        ids = np.argpartition(scores, -params.top_k)[-params.top_k :]
    else:
        ids = np.arange(scores.size)
    kept = scores[ids].astype(np.float64) / params.temperature
    order = np.argsort(-kept)
    ids, kept = ids[order], kept[order]
    probs = np.exp(kept - kept[0])
    probs /= probs.sum()
    if params.top_p < 1.0:
        cut = int(np.searchsorted(np.cumsum(probs), params.top_p)) + 1
        ids, probs = ids[:cut], probs[:cut] / probs[:cut].sum()
    return int(ids[rng.choice(len(ids), p=probs)])


def decode_loop(
    logits: np.ndarray,
    step: Callable[[int, int], np.ndarray],
    *,
    pos: int,
    n_ctx: int,
    max_new_tokens: int,
    sampling: SamplingParams,
    stops: frozenset[int],
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """The generation loop every backend shares.

    From the ``logits`` after the prompt, sample a token, yield it, and feed it back with
    ``step(token, pos)`` (which returns the next logits), until ``max_new_tokens`` tokens,
    the end of the context, a stop token (never yielded) or ``should_stop()``.
    """
    rng = np.random.default_rng(sampling.seed)
    produced: list[int] = []
    while len(produced) < max_new_tokens and pos < n_ctx:
        if should_stop is not None and should_stop():
            return
        token = sample_token(logits, sampling, rng, produced)
        if token in stops:
            return
        produced.append(token)
        yield token
        logits = step(token, pos)
        pos += 1
