"""Sampling invariants: greedy is arg-max, top-k/top-p never pick outside their set."""

from __future__ import annotations

import numpy as np
import pytest

from moodchat.engine.sampling import (
    GREEDY,
    SamplingParams,
    decode_loop,
    penalize_repeats,
    sample_token,
)


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


def _script_step(script):
    """A fake model whose next logits always point at ``script[pos]``."""

    def logits_for(pos: int) -> np.ndarray:
        out = np.zeros(10, dtype=np.float32)
        out[script[pos]] = 5.0
        return out

    return logits_for


def test_decode_loop_stops_on_stop_token_without_yielding_it():
    at = _script_step([1, 2, 3, 9, 4])
    out = list(
        decode_loop(
            at(0),
            lambda tok, pos: at(pos + 1),
            pos=0,
            n_ctx=100,
            max_new_tokens=10,
            sampling=GREEDY,
            stops=frozenset({9}),
        )
    )
    assert out == [1, 2, 3]


def test_decode_loop_respects_max_tokens_context_and_should_stop():
    at = _script_step([1] * 50)
    step = lambda tok, pos: at(pos + 1)  # noqa: E731
    kw = {"sampling": GREEDY, "stops": frozenset()}
    assert len(list(decode_loop(at(0), step, pos=0, n_ctx=100, max_new_tokens=4, **kw))) == 4
    assert len(list(decode_loop(at(0), step, pos=7, n_ctx=10, max_new_tokens=40, **kw))) == 3
    calls = iter([False, False, True])
    out = decode_loop(
        at(0), step, pos=0, n_ctx=100, max_new_tokens=40, should_stop=lambda: next(calls), **kw
    )
    assert list(out) == [1, 1]


def test_decode_loop_feeds_each_token_back_once():
    fed = []
    at = _script_step([5, 6, 7, 8])

    def step(tok, pos):
        fed.append((tok, pos))
        return at(pos + 1 - 3)

    gen = decode_loop(
        at(0), step, pos=3, n_ctx=100, max_new_tokens=3, sampling=GREEDY, stops=frozenset()
    )
    assert list(gen) == [5, 6, 7]
    assert fed == [(5, 3), (6, 4), (7, 5)]
