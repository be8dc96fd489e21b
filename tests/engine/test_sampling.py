"""SamplingParams validation, the one mapping to sampler stages, the shared decode loop,
and the test fake's numpy sampler."""

from __future__ import annotations

import numpy as np
import pytest

from moodchat.engine.sampling import (
    DRY_BREAKERS,
    GREEDY,
    SEED_MODULUS,
    SamplingParams,
    context_window,
    decode_loop,
    sample_token,
    sampler_stages,
)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -1},
        {"top_p": 0},
        {"top_p": 1.5},
        {"top_k": -1},
        {"min_p": -0.1},
        {"min_p": 1.0},
        {"repetition_penalty": 0},
        {"frequency_penalty": 3},
        {"presence_penalty": -3},
        {"penalty_last_n": -2},
        {"dry_multiplier": -1},
        {"dry_base": 0.5},
        {"dry_allowed_length": 0},
        {"dry_penalty_last_n": -2},
        {"seed": -5},
    ],
)
def test_invalid_params_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)


def test_defaults_map_to_llama_cpps_chain_order():
    stages = sampler_stages(SamplingParams(seed=3), n_ctx=3072)
    assert [s.name for s in stages] == [
        "penalties",
        "dry",
        "top_k",
        "top_p",
        "min_p",
        "temperature",
        "dist",
    ]
    named = dict(stages)
    assert named["penalties"] == {"last_n": 256, "repeat": 1.05, "frequency": 0.0, "presence": 0.0}
    assert named["dry"]["last_n"] == 3072  # -1: the whole context
    assert named["dry"]["breakers"] == DRY_BREAKERS == ("\n", ":", '"', "*")
    assert named["dist"] == {"seed": 3}
    assert context_window(stages) == 3072


def test_greedy_is_argmax_only_whatever_the_penalties():
    assert sampler_stages(GREEDY, n_ctx=100) == [("greedy", {})]
    loud = SamplingParams(temperature=0, repetition_penalty=2.0, dry_multiplier=3.0)
    assert sampler_stages(loud, n_ctx=100) == [("greedy", {})]
    assert context_window(sampler_stages(loud, n_ctx=100)) == 0


def test_stages_that_do_nothing_are_left_out():
    plain = SamplingParams(
        temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, repetition_penalty=1.0, dry_multiplier=0
    )
    assert [s.name for s in sampler_stages(plain, n_ctx=64)] == ["dist"]
    only_presence = SamplingParams(repetition_penalty=1.0, presence_penalty=0.5, dry_multiplier=0)
    (pen,) = [s for s in sampler_stages(only_presence, n_ctx=64) if s.name == "penalties"]
    assert pen.args == {"last_n": 64, "repeat": 1.0, "frequency": 0.0, "presence": 0.5}
    off = SamplingParams(penalty_last_n=0, dry_penalty_last_n=0)
    assert {"penalties", "dry"}.isdisjoint(s.name for s in sampler_stages(off, n_ctx=64))


def test_seeds_are_given_or_fresh_per_reply_and_fit_llama_cpp():
    def seed(p: SamplingParams) -> int:
        return sampler_stages(p, n_ctx=64)[-1].args["seed"]

    assert seed(SamplingParams(seed=2**63 - 1)) == (2**63 - 1) % SEED_MODULUS
    assert seed(SamplingParams(seed=SEED_MODULUS)) == 0  # never llama.cpp's "random" 0xFFFFFFFF
    fresh = {seed(SamplingParams()) for _ in range(5)}
    assert len(fresh) > 1 and all(0 <= s < SEED_MODULUS for s in fresh)


def test_fake_sampler_greedy_top_k_and_top_p():
    assert sample_token(np.array([0.1, 3.0, 2.9, -1.0]), GREEDY, np.random.default_rng(0)) == 1
    rng = np.random.default_rng(0)
    wide = SamplingParams(temperature=5.0, top_k=3, top_p=1.0, min_p=0.0)
    picks = {sample_token(np.arange(100, dtype=np.float32), wide, rng) for _ in range(200)}
    assert picks <= {97, 98, 99} and len(picks) > 1
    nucleus = SamplingParams(temperature=1.0, top_k=0, top_p=0.8, min_p=0.0)
    logits = np.log(np.array([0.6, 0.3, 0.05, 0.05]))
    assert {sample_token(logits, nucleus, rng) for _ in range(200)} == {0, 1}


class ArgmaxSampler:
    """A TokenSampler that records what it was fed."""

    def __init__(self) -> None:
        self.accepted: list[int] = []

    def accept(self, token: int) -> None:
        self.accepted.append(token)

    def pick(self, logits: np.ndarray) -> int:
        return int(np.argmax(logits))

    def close(self) -> None:  # pragma: no cover - the caller owns it
        pass


def _script_step(script):
    """A fake model whose next logits always point at ``script[pos]``."""

    def logits_for(pos: int) -> np.ndarray:
        out = np.zeros(10, dtype=np.float32)
        out[script[pos]] = 5.0
        return out

    return logits_for


def _loop(at, step, **kw):
    kw = {"pos": 0, "n_ctx": 100, "max_new_tokens": 10, "stops": frozenset()} | kw
    return decode_loop(at(0), step, sampler=kw.pop("sampler", ArgmaxSampler()), **kw)


def test_decode_loop_stops_on_stop_token_without_yielding_it():
    at = _script_step([1, 2, 3, 9, 4])
    sampler = ArgmaxSampler()
    out = list(_loop(at, lambda tok, pos: at(pos + 1), stops=frozenset({9}), sampler=sampler))
    assert out == [1, 2, 3]
    assert sampler.accepted == [1, 2, 3]


def test_decode_loop_respects_max_tokens_context_and_should_stop():
    at = _script_step([1] * 50)
    step = lambda tok, pos: at(pos + 1)  # noqa: E731
    assert len(list(_loop(at, step, max_new_tokens=4))) == 4
    assert len(list(_loop(at, step, pos=7, n_ctx=10, max_new_tokens=40))) == 3
    calls = iter([False, False, True])
    assert list(_loop(at, step, max_new_tokens=40, should_stop=lambda: next(calls))) == [1, 1]


def test_decode_loop_feeds_each_token_back_once():
    fed = []
    at = _script_step([5, 6, 7, 8])

    def step(tok, pos):
        fed.append((tok, pos))
        return at(pos + 1 - 3)

    assert list(_loop(at, step, pos=3, max_new_tokens=3)) == [5, 6, 7]
    assert fed == [(5, 3), (6, 4), (7, 5)]


def test_decode_loop_bans_tokens_only_for_the_first_pick():
    picked = []

    class Argmax:
        def pick(self, logits):
            picked.append(int(np.argmax(logits)))
            return picked[-1]

        def accept(self, token):
            pass

    logits = np.array([0.0, 5.0, 1.0], dtype=np.float32)
    out = list(
        decode_loop(
            logits, lambda tok, pos: logits, pos=0, n_ctx=10, max_new_tokens=3,
            sampler=Argmax(), stops=frozenset(), first_banned=np.array([1]),
        )
    )  # fmt: skip
    assert out == [2, 1, 1] and logits[1] == 5.0


def test_decode_loop_bans_tokens_at_every_step():
    class Argmax:
        def pick(self, logits):
            return int(np.argmax(logits))

        def accept(self, token):
            pass

    logits = np.array([0.0, 5.0, 1.0, 3.0], dtype=np.float32)
    out = list(
        decode_loop(
            logits, lambda tok, pos: logits, pos=0, n_ctx=10, max_new_tokens=3,
            sampler=Argmax(), stops=frozenset(), banned=np.array([1]),
            first_banned=np.array([3]),
        )
    )  # fmt: skip
    assert out == [2, 3, 3]
