"""The transformers sampler: one SamplingParams mapped onto transformers' logits processors,
penalties over the whole context (history included), seeded draws. No model needed."""

from __future__ import annotations

import numpy as np
from transformers import (
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from moodchat.engine.hf_sampler import (
    CountPenaltyLogitsProcessor,
    HFSampler,
    processors_for,
)
from moodchat.engine.sampling import GREEDY, SamplingParams, sampler_stages

VOCAB = 50
A, B = 7, 8
# Only top-1 survives after the penalties: the pick shows what the penalties did.
TOP1 = dict(temperature=1.0, top_k=1, top_p=1.0, min_p=0.0, dry_multiplier=0.0)


def _two_way() -> np.ndarray:
    logits = np.full(VOCAB, -10.0, dtype=np.float32)
    logits[A], logits[B] = 10.0, 9.0
    return logits


def test_default_params_map_to_processors_in_chain_order():
    procs = processors_for(sampler_stages(SamplingParams(seed=1), n_ctx=512))
    assert [type(p) for p in procs] == [
        RepetitionPenaltyLogitsProcessor,
        TopKLogitsWarper,
        TopPLogitsWarper,
        MinPLogitsWarper,
        TemperatureLogitsWarper,
    ]  # DRY has no transformers processor: skipped
    counts = SamplingParams(frequency_penalty=0.5, repetition_penalty=1.0, seed=1)
    assert [type(p) for p in processors_for(sampler_stages(counts, n_ctx=512))][0] is (
        CountPenaltyLogitsProcessor
    )


def test_greedy_is_argmax_and_ignores_the_history():
    sampler = HFSampler(GREEDY, 512, context=[A] * 10)
    assert list(sampler.processors) == []
    assert sampler.pick(_two_way()) == A


def test_repeat_penalty_sees_the_prompt_history():
    params = SamplingParams(repetition_penalty=2.0, seed=0, **TOP1)
    logits = _two_way()
    assert HFSampler(params, 512, context=[1, 2, 3]).pick(logits) == A
    assert HFSampler(params, 512, context=[A, 1, 2, 3]).pick(logits) == B  # 10 / 2 < 9
    assert logits[A] == 10.0  # never modified
    accepted = HFSampler(params, 512, context=[1, 2])
    accepted.accept(A)
    assert accepted.pick(logits) == B


def test_penalty_window_is_the_last_n_tokens():
    params = SamplingParams(repetition_penalty=2.0, penalty_last_n=3, seed=0, **TOP1)
    assert HFSampler(params, 512, context=[A, 1, 2]).pick(_two_way()) == B
    assert HFSampler(params, 512, context=[A, 1, 2, 3]).pick(_two_way()) == A


def test_frequency_and_presence_penalties():
    params = SamplingParams(
        repetition_penalty=1.0, frequency_penalty=0.3, presence_penalty=0.2, seed=0, **TOP1
    )
    assert HFSampler(params, 512, context=[A, A]).pick(_two_way()) == A  # 10 - 0.6 - 0.2
    assert HFSampler(params, 512, context=[A, A, A]).pick(_two_way()) == B  # 10 - 0.9 - 0.2


def test_seeded_draws_are_reproducible_and_seeds_differ():
    logits = np.random.default_rng(3).normal(size=VOCAB).astype(np.float32)
    wide = dict(temperature=1.5, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0)

    def draws(seed: int) -> list[int]:
        sampler = HFSampler(SamplingParams(seed=seed, **wide), 512)
        return [sampler.pick(logits) for _ in range(30)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
