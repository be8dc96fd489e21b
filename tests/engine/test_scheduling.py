"""StepLock (mutual exclusion, priority first, then arrival order), StepBatcher, ScoreCoalescer
(and, on the coalescing fake engine, the sentiment role's concurrent ``analyze`` calls)."""

from __future__ import annotations

import threading
import time

import pytest

from fakes import CoalescingFakeEngine, behind_a_step
from moodchat.engine.scheduling import (
    GENERATE_PRIORITY,
    SCORE_PRIORITY,
    ScoreCoalescer,
    SequencePool,
    StepBatcher,
    StepLock,
)
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import SentimentRole
from moodchat.template import ChatML


def test_waiters_are_served_by_priority_then_arrival():
    lock = StepLock()
    order: list[str] = []
    started, release = threading.Event(), threading.Event()

    def holder():
        with lock.hold(GENERATE_PRIORITY):
            started.set()
            release.wait(5)  # held until every waiter is queued

    def waiter(name: str, priority: int):
        with lock.hold(priority):
            order.append(name)

    t0 = threading.Thread(target=holder)
    t0.start()
    started.wait()
    threads = []
    for name, prio in [
        ("gen-1", GENERATE_PRIORITY),
        ("score", SCORE_PRIORITY),
        ("gen-2", GENERATE_PRIORITY),
    ]:
        t = threading.Thread(target=waiter, args=(name, prio))
        t.start()
        threads.append(t)
        while lock.waiting < len(threads):
            time.sleep(0.001)
    release.set()
    for t in [t0, *threads]:
        t.join(5)
    assert order == ["score", "gen-1", "gen-2"]


def test_lock_is_exclusive():
    lock = StepLock()
    inside = 0
    peak = 0
    guard = threading.Lock()

    def work():
        nonlocal inside, peak
        for _ in range(50):
            with lock.hold():
                with guard:
                    inside += 1
                    peak = max(peak, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 1


def _batcher(delay: float = 0.0, fail: bool = False, lock: StepLock | None = None):
    calls: list[dict] = []

    def decode_steps(batch):
        calls.append(dict(batch))
        time.sleep(delay)
        if fail:
            raise RuntimeError("decode failed")
        return {seq: (token, pos) for seq, (token, pos) in batch.items()}

    return StepBatcher(lock or StepLock(), decode_steps, gather_s=0.05), calls


def _run_generations(batcher: StepBatcher, n: int = 4, steps: int = 5) -> dict[int, list]:
    """``n`` concurrent generations of ``steps`` steps each; their results by sequence."""
    results: dict[int, list] = {}

    def generation(seq: int) -> None:
        batcher.join()
        try:
            results[seq] = [batcher.step(seq, 100 + seq, pos) for pos in range(steps)]
        finally:
            batcher.leave()

    threads = [threading.Thread(target=generation, args=(s,)) for s in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def test_step_batcher_decodes_concurrent_steps_together():
    batcher, calls = _batcher(delay=0.01)
    results = _run_generations(batcher)
    assert all(results[s] == [(100 + s, p) for p in range(5)] for s in range(4))
    assert max(len(c) for c in calls) == 4 and sum(len(c) for c in calls) == 20


class _CountingLock(StepLock):
    def __init__(self) -> None:
        super().__init__()
        self.holds = 0

    def hold(self, priority: int = GENERATE_PRIORITY):
        self.holds += 1
        return super().hold(priority)


def test_only_the_leader_of_a_batch_takes_the_step_lock():
    lock = _CountingLock()
    batcher, calls = _batcher(delay=0.01, lock=lock)
    results = _run_generations(batcher)
    assert all(results[s] == [(100 + s, p) for p in range(5)] for s in range(4))
    assert lock.holds == len(calls) < 20  # one hold per decode, none to collect a result


def test_step_batcher_alone_never_waits_for_others():
    batcher, calls = _batcher()
    batcher.join()
    start = time.perf_counter()
    assert [batcher.step(7, 1, p) for p in range(3)] == [(1, 0), (1, 1), (1, 2)]
    assert time.perf_counter() - start < 0.05 and [len(c) for c in calls] == [1, 1, 1]


def test_a_generation_that_leaves_releases_the_others():
    batcher, calls = _batcher()
    batcher.join()
    batcher.join()  # a second generation joins, then leaves without stepping
    batcher.leave()
    assert batcher.step(1, 5, 0) == (5, 0)


def test_a_decode_error_reaches_every_generation_in_the_batch():
    batcher, _ = _batcher(fail=True)
    batcher.join()
    with pytest.raises(RuntimeError, match="decode failed"):
        batcher.step(3, 1, 0)


def _role(engine) -> SentimentRole:
    return SentimentRole(engine, ChatML(engine), sentiment_prompt("v4-fewshot"))


TEXTS = ["happy day", "I lost my keys", "so happy today!", "meh", "happy", "rain again"]


def _verdict(s) -> tuple:
    return s.label, s.confidence, tuple(s.probabilities.items()), s.n_tokens


def test_concurrent_analyze_calls_are_scored_in_one_pass_with_their_solo_results():
    engine = CoalescingFakeEngine()
    role = _role(engine)
    solo = [_verdict(role.analyze(t)) for t in TEXTS]
    assert len(set(solo)) == len(TEXTS)  # every text has its own verdict: a mix-up shows
    before = engine.decodes
    out = behind_a_step(
        engine.lock, lambda: engine.scorer.queued, len(TEXTS), role.analyze, [(t,) for t in TEXTS]
    )
    assert engine.decodes - before == 1
    assert engine.scorer.batch_sizes[len(TEXTS)] == 1
    assert [_verdict(s) for s in out] == solo


def test_a_lone_scoring_request_never_waits_for_company():
    engine = CoalescingFakeEngine()
    role = _role(engine)
    before = engine.decodes
    start = time.perf_counter()
    for t in TEXTS:
        role.analyze(t)
    assert engine.decodes - before == len(TEXTS)
    assert time.perf_counter() - start < 1.0


def test_a_scoring_error_reaches_every_caller_in_the_batch():
    engine = CoalescingFakeEngine()
    role = _role(engine)
    engine.fail_with = RuntimeError("decode failed")
    out = behind_a_step(
        engine.lock, lambda: engine.scorer.queued, 4, role.analyze, [(t,) for t in TEXTS[:4]]
    )
    assert all(isinstance(e, RuntimeError) and "decode failed" in str(e) for e in out), out
    engine.fail_with = None
    assert role.analyze("happy").label == "positive"  # the coalescer is not left stuck


def test_a_request_of_its_own_fails_alone():
    lock = StepLock()

    def score_all(requests):
        return [ValueError(r) if r == "bad" else r.upper() for r in requests]

    coalescer = ScoreCoalescer(lock, score_all)
    names = ["a", "bad", "c"]
    out = behind_a_step(lock, lambda: coalescer.queued, 3, coalescer.score, [(n,) for n in names])
    assert out[0] == "A" and out[2] == "C" and isinstance(out[1], ValueError)
    assert coalescer.batch_sizes == {3: 1}


def test_queued_scoring_runs_before_the_waiting_chat_step():
    lock = StepLock()
    order: list[str] = []
    coalescer = ScoreCoalescer(lock, lambda reqs: order.extend(reqs) or list(reqs))

    def chat_step():
        with lock.hold(GENERATE_PRIORITY):
            order.append("step")

    def queued() -> int:  # the chat step waits at the lock, the scoring requests queue
        return coalescer.queued + (lock.waiting >= 3)

    callers = [(chat_step, ()), (coalescer.score, ("s1",)), (coalescer.score, ("s2",))]
    behind_a_step(lock, queued, 3, lambda f, a: f(*a), callers)
    assert order[-1] == "step" and sorted(order[:2]) == ["s1", "s2"]


def test_sequence_pool_take_free_never_blocks():
    pool = SequencePool(2, first=5)
    assert pool.take_free(3) == [5, 6]
    assert pool.take_free(1) == []
    pool.give(6)
    assert pool.take(1) == [6]
