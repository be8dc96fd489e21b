"""llama.cpp's native sampler chain on the real default model: greedy is the arg-max, seeds
reproduce, the penalties and DRY see the prompt's history, and every chain is freed."""

from __future__ import annotations

import numpy as np
import pytest

import moodchat.engine.llama as llama_module
from moodchat.engine.llama_sampler import LlamaSampler
from moodchat.engine.sampling import GREEDY, SamplingParams

pytestmark = pytest.mark.model

# Only the best token survives the truncation: a pick shows what penalties or DRY did.
TOP1 = dict(temperature=1.0, top_k=1, top_p=1.0, min_p=0.0)


@pytest.fixture(scope="module")
def engine(assistant):
    return assistant.engine


@pytest.fixture(scope="module")
def ask(engine, assistant):
    """A chat prefix and a short request after it."""
    t = assistant.template
    tokens = t.open_turn("user") + engine.tokenize("Say hi to Anna.") + t.reply_start()
    return assistant.chat.prefixes["en"], tokens


def _sampler(engine, params: SamplingParams, context=()) -> LlamaSampler:
    return LlamaSampler(engine._lib, engine._vocab, params, engine.n_ctx, context)


def _two_way(engine, best: int, second: int) -> np.ndarray:
    logits = np.full(engine.n_vocab, -10.0, dtype=np.float32)
    logits[best], logits[second] = 10.0, 9.0
    return logits


def test_greedy_chain_is_the_argmax_of_real_logits(engine, ask):
    prefix, tokens = ask
    logits = engine.next_logits(prefix, tokens)
    with _sampler(engine, GREEDY, context=[int(np.argmax(logits))] * 50) as sampler:
        assert sampler.pick(logits) == int(np.argmax(logits))  # no penalty, even so
        assert sampler.pick(-logits) == int(np.argmax(-logits))


def test_greedy_generation_is_unchanged_against_plain_argmax(engine, ask, monkeypatch):
    prefix, tokens = ask
    native = list(engine.generate(prefix, tokens, max_new_tokens=8, sampling=GREEDY))

    class Argmax(LlamaSampler):
        def pick(self, logits: np.ndarray) -> int:
            return int(np.argmax(logits))

    monkeypatch.setattr(llama_module, "LlamaSampler", Argmax)
    plain = list(engine.generate(prefix, tokens, max_new_tokens=8, sampling=GREEDY))
    assert native == plain and len(native) > 0


def test_seeded_chain_reproduces_and_seeds_differ(engine):
    logits = np.random.default_rng(3).normal(size=engine.n_vocab).astype(np.float32)
    wide = dict(temperature=1.5, top_k=0, top_p=1.0, min_p=0.0)

    def draws(seed: int) -> list[int]:
        with _sampler(engine, SamplingParams(seed=seed, **wide)) as sampler:
            return [sampler.pick(logits) for _ in range(20)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_seeded_replies_reproduce(engine, ask):
    prefix, tokens = ask

    def reply(seed: int) -> list[int]:
        params = SamplingParams(seed=seed, temperature=1.2, top_k=0, top_p=1.0)
        return list(engine.generate(prefix, tokens, max_new_tokens=8, sampling=params))

    assert reply(11) == reply(11)
    assert len({tuple(reply(seed)) for seed in (1, 2, 3)}) > 1


def test_repeat_penalty_sees_the_history(engine):
    a, b = engine.tokenize(" apple")[0], engine.tokenize(" banana")[0]
    params = SamplingParams(repetition_penalty=2.0, penalty_last_n=4, dry_multiplier=0, **TOP1)
    logits = _two_way(engine, a, b)
    with _sampler(engine, params, context=[1, 2, 3]) as fresh:
        assert fresh.pick(logits) == a
        fresh.accept(a)  # a generated token counts too
        assert fresh.pick(logits) == b
    with _sampler(engine, params, context=[a, 1, 2, 3]) as seen:
        assert seen.pick(logits) == b  # 10 / 2 < 9
    with _sampler(engine, params, context=[a, 1, 2, 3, 4]) as gone:
        assert gone.pick(logits) == a  # out of the last 4
    assert logits[a] == 10.0


def test_dry_penalizes_extending_a_repeat_from_the_history(engine):
    x, y, z, w = (engine.tokenize(s)[0] for s in (" apple", " banana", " cherry", " grape"))
    params = SamplingParams(repetition_penalty=1.0, dry_multiplier=3.0, **TOP1)
    logits = _two_way(engine, z, w)
    with _sampler(engine, params, context=[x, y, z, x, y]) as repeat:
        assert repeat.pick(logits) == w  # "x y" was followed by z: 10 - 3 < 9
    with _sampler(engine, params, context=[x, y, w, x, y]) as other:
        assert other.pick(logits) == z


def test_generation_primes_the_chain_with_the_whole_prompt(engine, ask, monkeypatch):
    prefix, tokens = ask
    seen: list[list[int]] = []

    class Recording(LlamaSampler):
        def __init__(self, lib, vocab, params, n_ctx, context=()):
            seen.append(list(context))
            super().__init__(lib, vocab, params, n_ctx, context)

    monkeypatch.setattr(llama_module, "LlamaSampler", Recording)
    list(engine.generate(prefix, tokens, max_new_tokens=1, sampling=SamplingParams(seed=1)))
    assert seen == [[*prefix.tokens, *tokens]]


def test_every_chain_is_freed_even_on_early_close(engine, ask, monkeypatch):
    prefix, tokens = ask
    lib, made, freed = engine._lib, [], []
    init, free = lib.llama_sampler_chain_init, lib.llama_sampler_free
    monkeypatch.setattr(lib, "llama_sampler_chain_init", lambda p: made.append(init(p)) or made[-1])
    monkeypatch.setattr(lib, "llama_sampler_free", lambda s: freed.append(s) or free(s))
    gen = engine.generate(prefix, tokens, max_new_tokens=50, sampling=SamplingParams(seed=2))
    next(gen)
    assert len(made) == 1 and freed == []
    gen.close()
    assert len(freed) == 1
    list(engine.generate(prefix, tokens, max_new_tokens=2, sampling=GREEDY))
    assert len(made) == len(freed) == 2
    sampler = _sampler(engine, GREEDY)
    sampler.close()
    sampler.close()  # once only
    assert len(made) == len(freed) == 3
    with pytest.raises(RuntimeError):
        sampler.pick(np.zeros(engine.n_vocab, dtype=np.float32))
