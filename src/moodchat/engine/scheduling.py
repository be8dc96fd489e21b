"""A fair, priority-aware lock that serializes model steps.

Contract: ``StepLock.hold(priority)`` is a context manager; waiters are admitted in order
of (priority, arrival), lower priority value first. Sentiment scoring takes priority 0 and
each generation step priority 1, so a short scoring request waits at most one token step
of any running generation, and concurrent generations interleave token by token instead
of one starving the others (a plain ``threading.Lock`` gives no such order).
``SequencePool`` hands out llama.cpp sequence ids, all-or-none, blocking when too few are free.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SCORE_PRIORITY = 0
GENERATE_PRIORITY = 1


class StepLock:
    """Mutual exclusion with ordered hand-off between waiting threads."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._waiting: list[tuple[int, int]] = []
        self._tickets = itertools.count()
        self._busy = False

    @contextmanager
    def hold(self, priority: int = GENERATE_PRIORITY) -> Iterator[None]:
        """Block until this caller is first in line and the lock is free, then hold it."""
        with self._cond:
            entry = (priority, next(self._tickets))
            heapq.heappush(self._waiting, entry)
            while self._busy or self._waiting[0] != entry:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """How many callers are queued for the lock right now."""
        with self._cond:
            return len(self._waiting)


class SequencePool:
    """Hands out llama.cpp sequence ids; blocks when all are in use."""

    def __init__(self, n: int) -> None:
        self._free = list(range(n))
        self._cond = threading.Condition()

    def take(self, n: int = 1) -> list[int]:
        """``n`` ids at once (all or none, so two batch callers cannot deadlock)."""
        with self._cond:
            while len(self._free) < n:
                self._cond.wait()
            taken, self._free = self._free[:n], self._free[n:]
            return taken

    def give(self, *seqs: int) -> None:
        with self._cond:
            self._free.extend(seqs)
            self._cond.notify_all()

    @property
    def available(self) -> int:
        with self._cond:
            return len(self._free)
