"""StepLock: mutual exclusion, priority first, then arrival order."""

from __future__ import annotations

import threading
import time

from moodchat.engine.scheduling import GENERATE_PRIORITY, SCORE_PRIORITY, StepLock


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
