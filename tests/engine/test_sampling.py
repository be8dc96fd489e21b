"""Sampling invariants: greedy is arg-max, top-k/top-p never pick outside their set."""

from __future__ import annotations

import numpy as np
import pytest

from moodchat.engine.sampling import GREEDY, SamplingParams, penalize_repeats, sample_token


def test_greedy_is_argmax():
    logits = np.array([0.1, 3.0, 2.9, -1.0], dtype=np.float32)
    assert sample_token(logits, GREEDY, np.random.default_rng(0)) == 1


def test_top_k_only_picks_from_top_k():
    rng = np.random.default_rng(0)
    logits = np.arange(100, dtype=np.float32)
    params = SamplingParams(temperature=5.0, top_k=3, top_p=1.0, repetition_penalty=1.0)
    picks = {sample_token(logits, params, rng) for _ in range(300)}
    assert picks <= {97, 98, 99}
    assert len(picks) > 1


def test_top_p_keeps_the_nucleus():
    rng = np.random.default_rng(1)
    logits = np.log(np.array([0.6, 0.3, 0.05, 0.05], dtype=np.float32))
    params = SamplingParams(temperature=1.0, top_k=0, top_p=0.8, repetition_penalty=1.0)
    picks = {sample_token(logits, params, rng) for _ in range(300)}
    assert picks == {0, 1}


def test_repetition_penalty_lowers_seen_tokens_and_copies():
    logits = np.array([2.0, -2.0, 1.0], dtype=np.float32)
    out = penalize_repeats(logits, [0, 1], 2.0)
    assert out.tolist() == [1.0, -4.0, 1.0]
    assert logits.tolist() == [2.0, -2.0, 1.0]


def test_seeded_sampling_is_reproducible():
    logits = np.random.default_rng(3).normal(size=500).astype(np.float32)
    params = SamplingParams(seed=7)
    a = [sample_token(logits, params, np.random.default_rng(7)) for _ in range(5)]
    b = [sample_token(logits, params, np.random.default_rng(7)) for _ in range(5)]
    assert a == b


@pytest.mark.parametrize(
    "kwargs", [{"temperature": -1}, {"top_p": 0}, {"top_k": -1}, {"repetition_penalty": 0}]
)
def test_invalid_params_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)
