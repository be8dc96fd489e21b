"""Continuous batching on the real default GGUF: concurrent replies, one decode per step.

Replies that run together produce, with greedy sampling, the tokens each produces alone;
where batched kernels round differently, a divergence may only start at a near-tie of the
top two logits. A reply that is closed frees its sequence within 2 steps while the others
go on. Sentiment requests that arrive while a step runs are scored together in one pass,
with the labels and confidences each gets alone.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fakes import behind_a_step
from moodchat.engine.llama import LlamaEngine
from moodchat.engine.sampling import GREEDY
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import SentimentRole
from moodchat.template import ChatML

pytestmark = pytest.mark.model

MESSAGES = [
    "I finally finished my first marathon today!",
    "我和最好的朋友吵架了，不知道该怎么和好。",
    "My dog has been sick all week and I'm worried.",
    "最近工作压力好大，每天都加班。",
]
NEAR_TIE = 0.5  # logits


@pytest.fixture(scope="module")
def engine(default_model):
    eng = LlamaEngine(default_model, threads=2)
    yield eng
    eng.close()


def _setup(engine):
    t = ChatML(engine)
    prefix = engine.cache_prefix(t.turn("system", "You are a kind, supportive friend."))
    requests = [t.open_turn("user") + t.text(m) + t.reply_start() for m in MESSAGES]
    return prefix, requests, t.stop_tokens


def _generate(engine, prefix, request, stops, n=24) -> list[int]:
    return list(
        engine.generate(prefix, request, max_new_tokens=n, sampling=GREEDY, stop_tokens=stops)
    )


def _concurrently(fn, args_list) -> list:
    out: list = [None] * len(args_list)

    def run(i, args):
        out[i] = fn(*args)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return out


def test_concurrent_greedy_replies_match_solo_up_to_near_ties(engine):
    prefix, requests, stops = _setup(engine)
    solo = [_generate(engine, prefix, r, stops) for r in requests]
    before = engine._batcher.batch_sizes.copy()
    together = _concurrently(
        lambda r: _generate(engine, prefix, r, stops), [(r,) for r in requests]
    )
    batched = engine._batcher.batch_sizes - before
    assert max(batched) > 1  # steps were really batched
    for request, a, b in zip(requests, solo, together):
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        if k is None:
            assert a == b
            continue
        logits = engine.next_logits(prefix, list(request) + a[:k])
        top2 = np.sort(logits)[-2:]
        assert top2[1] - top2[0] < NEAR_TIE, f"diverged at token {k} without a near-tie"


def test_a_closed_reply_frees_its_sequence_within_two_steps_while_others_stream(engine):
    prefix, requests, stops = _setup(engine)
    free_before = engine._reply_seqs.available
    done: list[int] = []
    seen: dict = {}
    closed = threading.Event()

    def steps() -> int:
        return sum(engine._batcher.batch_sizes.values())

    def closer():
        gen = engine.generate(prefix, requests[0], max_new_tokens=64, sampling=GREEDY)
        for i, _ in enumerate(gen):
            if i == 3:
                at = steps()
                gen.close()
                seen.update(steps=steps() - at, free=engine._reply_seqs.available, done=len(done))
                closed.set()
                break

    def streamer(request):
        done.append(len(_generate(engine, prefix, request, stops, n=32)))

    threads = [threading.Thread(target=closer)]
    threads += [threading.Thread(target=streamer, args=(r,)) for r in requests[1:3]]
    for th in threads:
        th.start()
    assert closed.wait(60)
    assert seen["steps"] <= 2  # its sequence was back before 2 more steps were decoded
    assert seen["free"] == free_before - 2 and seen["done"] == 0  # the 2 others still run
    for th in threads:
        th.join(timeout=120)
    assert len(done) == 2 and all(n > 0 for n in done)
    assert engine._reply_seqs.available == free_before


TEXTS = [
    "I finally finished my first marathon today!",
    "我和最好的朋友吵架了，不知道该怎么和好。",
    "The delivery was late and the food was cold.",
    "这家店的服务太好了，下次还来。",
    "My dog has been sick all week and I'm worried.",
    "Best concert of my life, hands down.",
]


@pytest.fixture(scope="module")
def role(engine):
    r = SentimentRole(engine, ChatML(engine), sentiment_prompt(None))
    yield r
    r.release()


def _same_verdicts(solo, together) -> None:
    for a, b in zip(solo, together, strict=True):
        assert a.label == b.label
        assert abs(a.confidence - b.confidence) < 1e-3, (a, b)


def test_concurrent_analyze_is_one_pass_with_the_solo_verdicts(engine, role):
    solo = [role.analyze(t) for t in TEXTS]
    before = engine._scorer.batch_sizes.copy()
    together = behind_a_step(
        engine._lock, lambda: engine._scorer.queued, len(TEXTS), role.analyze, [(t,) for t in TEXTS]
    )
    assert engine._scorer.batch_sizes - before == {len(TEXTS): 1}  # one coalesced pass
    _same_verdicts(solo, together)


def test_more_texts_than_spare_sequences_take_more_rounds_with_the_same_verdicts(engine, role):
    texts = TEXTS * 3  # 18 continuations, more than the free spare sequences
    free = engine._seqs.available
    assert len(texts) > free
    solo = [role.analyze(t) for t in TEXTS] * 3
    _same_verdicts(solo, role.analyze_many(texts))
    assert engine._seqs.available == free  # every spare sequence came back


def test_coalesced_scoring_gives_every_text_its_solo_logits_exactly(engine, role):
    v = role._variant(TEXTS[0])
    batch = [role._request_tokens(t, v)[0] for t in TEXTS] * 2
    solo = [engine.next_logits(v.prefix, tokens) for tokens in batch]
    many = engine.next_logits_many(v.prefix, batch)
    assert sum(len(t) for t in batch) > 63  # more rows than one scoring decode takes
    assert all(np.array_equal(a, b) for a, b in zip(solo, many))
