"""StepLock (mutual exclusion, priority first, then arrival order) and StepBatcher."""

from __future__ import annotations

import threading
import time

import pytest

from moodchat.engine.scheduling import GENERATE_PRIORITY, SCORE_PRIORITY, StepBatcher, StepLock


def test_waiters_are_served_by_priority_then_arrival():
    lock = StepLock()
    order: list[str] = []
    started = threading.Event()

    def holder():
        with lock.hold(GENERATE_PRIORITY):
            started.set()
            while lock.waiting < 3:
                time.sleep(0.001)

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


def _batcher(delay: float = 0.0, fail: bool = False):
    calls: list[dict] = []

    def decode_steps(batch):
        calls.append(dict(batch))
        time.sleep(delay)
        if fail:
            raise RuntimeError("decode failed")
        return {seq: (token, pos) for seq, (token, pos) in batch.items()}

    return StepBatcher(StepLock(), decode_steps, gather_s=0.05), calls


def test_step_batcher_decodes_concurrent_steps_together():
    batcher, calls = _batcher(delay=0.01)
    results: dict[int, list] = {}

    def generation(seq: int) -> None:
        batcher.join()
        try:
            results[seq] = [batcher.step(seq, 100 + seq, pos) for pos in range(5)]
        finally:
            batcher.leave()

    threads = [threading.Thread(target=generation, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert all(results[s] == [(100 + s, p) for p in range(5)] for s in range(4))
    assert max(len(c) for c in calls) == 4 and sum(len(c) for c in calls) == 20


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
