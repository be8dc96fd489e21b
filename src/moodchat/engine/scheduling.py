"""A fair, priority-aware lock that serializes model steps.

Contract: ``StepLock.hold(priority)`` is a context manager; waiters are admitted in order
of (priority, arrival), lower priority value first. Sentiment scoring takes priority 0 and
each generation step priority 1, so a short scoring request waits at most one token step
of any running generation, and concurrent generations interleave token by token instead
of one starving the others (a plain ``threading.Lock`` gives no such order).
``SequencePool`` hands out llama.cpp sequence ids, all-or-none, blocking when too few are free.
``StepBatcher`` coalesces the one-token steps of concurrent generations into one batched
decode (continuous batching): ``join()`` / ``leave()`` bracket a generation's decoding
phase; ``step(seq, token, pos)`` returns the logits after ``token``. The first caller to
get the step lock waits up to ``gather_s`` for every joined generation to submit its step,
then decodes all pending steps in one ``decode_steps({seq: (token, pos)})`` call; the
others find their logits ready when their turn at the lock comes. A decode error is raised
in every generation whose step was in that batch.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
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


class StepBatcher:
    """One decode for the pending steps of all running generations (see the contract)."""

    def __init__(
        self,
        lock: StepLock,
        decode_steps: Callable[[dict[int, tuple[int, int]]], dict[int, object]],
        gather_s: float = 0.004,
    ) -> None:
        self._lock, self._decode_steps, self._gather_s = lock, decode_steps, gather_s
        self._cond = threading.Condition()
        self._joined = 0
        self._pending: dict[int, tuple[int, int]] = {}
        self._done: dict[int, object] = {}
        # decodes per batch size (bounded: a long-running server must not grow a list)
        self.batch_sizes: collections.Counter[int] = collections.Counter()

    def join(self) -> None:
        with self._cond:
            self._joined += 1

    def leave(self) -> None:
        with self._cond:
            self._joined -= 1
            self._cond.notify_all()

    def step(self, seq: int, token: int, pos: int):
        """Logits after ``token`` at ``pos`` in ``seq`` (decoded alone or with others)."""
        with self._cond:
            self._pending[seq] = (token, pos)
            self._cond.notify_all()
        with self._lock.hold(GENERATE_PRIORITY):
            batch = self._gather(seq)
            if batch:
                self._run(batch)
            with self._cond:
                out = self._done.pop(seq)
        if isinstance(out, BaseException):
            raise out
        return out

    def _gather(self, seq: int) -> dict[int, tuple[int, int]]:
        """The steps to decode now (empty when ``seq``'s step was decoded by another)."""
        with self._cond:
            if seq in self._done:
                return {}
            self._cond.wait_for(lambda: len(self._pending) >= self._joined, self._gather_s)
            batch, self._pending = self._pending, {}
            return batch

    def _run(self, batch: dict[int, tuple[int, int]]) -> None:
        try:
            results = self._decode_steps(batch)
        except Exception as err:  # every generation in the batch sees the failure
            results = dict.fromkeys(batch, err)
        with self._cond:
            self._done.update(results)
            self.batch_sizes[len(batch)] += 1
