"""A fair, priority-aware lock that serializes model steps.

Contract: ``StepLock.hold(priority)`` is a context manager; waiters are admitted in order
of (priority, arrival), lower priority value first. Sentiment scoring takes priority 0 and
each generation step priority 1, so a short scoring request waits at most one token step
of any running generation, and concurrent generations interleave token by token instead
of one starving the others (a plain ``threading.Lock`` gives no such order).
``SequencePool`` hands out llama.cpp sequence ids, all-or-none, blocking when too few are
free (``take``), or as many as are free without blocking (``take_free``).
``StepBatcher`` coalesces the one-token steps of concurrent generations into one batched
decode (continuous batching): ``join()`` / ``leave()`` bracket a generation's decoding
phase; ``step(seq, token, pos)`` returns the logits after ``token``. One caller at a time
leads: it waits up to ``gather_s`` for every joined generation to submit its step, takes
the step lock and decodes all pending steps in one ``decode_steps({seq: (token, pos)})``
call; the others wait off the lock and find their logits ready when it is done (a step
that arrived too late leads or joins the next batch). A decode error is raised in every
generation whose step was in that batch.
``ScoreCoalescer`` does the same for scoring requests from different callers:
``score(request)`` queues the request, then takes the step lock at ``SCORE_PRIORITY``; the
caller that gets it first drains every queued request and scores them all in one
``score_all(requests)`` call (the engine packs them into as few decodes as fit), and the
others find their results ready. A lone request never waits for company: coalescing
happens exactly when requests arrive while the lock is busy (a chat step or another
scoring batch), so a burst of N texts costs about one batch, not N steps, and still runs
before the next waiting chat step. A result that is an exception is raised in its own
caller only; an exception from ``score_all`` is raised in every caller of that batch.
``scoring_request(prefix, batch)`` builds a request (``ValueError`` for an empty
continuation); ``context_errors(requests, n_ctx)`` gives the requests whose longest
continuation would overflow the context their ``ContextFullError``, so the engines fail
them alone.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Generic, TypeVar

from moodchat.errors import ContextFullError

if TYPE_CHECKING:
    from moodchat.engine.base import Prefix

SCORE_PRIORITY = 0
GENERATE_PRIORITY = 1

R = TypeVar("R")  # a scoring request
T = TypeVar("T")  # its result


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

    def __init__(self, n: int, first: int = 0) -> None:
        self._free = list(range(first, first + n))
        self._cond = threading.Condition()

    def take(self, n: int = 1) -> list[int]:
        """``n`` ids at once (all or none, so two batch callers cannot deadlock)."""
        with self._cond:
            while len(self._free) < n:
                self._cond.wait()
            taken, self._free = self._free[:n], self._free[n:]
            return taken

    def take_free(self, n: int) -> list[int]:
        """Up to ``n`` ids, as many as are free now (never blocks; may be empty)."""
        with self._cond:
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
        self._leading = False
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
            # Followers wait here, off the step lock: queueing for it only to collect a
            # ready result put each of them behind any scoring pass or prompt chunk that
            # came first (8 replies: 52.0 -> 59.2 tok/s, one quiet run each).
            while seq not in self._done and self._leading:
                self._cond.wait()
            lead = seq not in self._done  # and no leader: this caller leads
            if lead:
                self._leading = True
        if lead:
            self._lead()
        with self._cond:
            out = self._done.pop(seq)
        if isinstance(out, BaseException):
            raise out
        return out

    def _lead(self) -> None:
        """Gather the others' steps (up to ``gather_s``), then decode them all at once."""
        batch: dict[int, tuple[int, int]] = {}
        try:
            with self._cond:
                self._cond.wait_for(lambda: len(self._pending) >= self._joined, self._gather_s)
            with self._lock.hold(GENERATE_PRIORITY):
                with self._cond:
                    batch, self._pending = self._pending, {}
                self._run(batch)
        except BaseException as err:  # an interrupt: no follower may wait for nothing
            with self._cond:
                self._done.update({s: err for s in batch if s not in self._done})
            raise
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()

    def _run(self, batch: dict[int, tuple[int, int]]) -> None:
        try:
            results = self._decode_steps(batch)
        except Exception as err:  # every generation in the batch sees the failure
            results = dict.fromkeys(batch, err)
        with self._cond:
            self._done.update(results)
            self.batch_sizes[len(batch)] += 1


class _Ticket(Generic[R, T]):
    """One queued scoring request and, once scored, its result."""

    __slots__ = ("request", "result", "done")

    def __init__(self, request: R) -> None:
        self.request = request
        self.result: T | BaseException | None = None
        self.done = False


class ScoreCoalescer(Generic[R, T]):
    """One scoring pass for the requests of every caller waiting at once (see the contract)."""

    def __init__(self, lock: StepLock, score_all: Callable[[list[R]], Sequence[T]]) -> None:
        self._lock, self._score_all = lock, score_all
        self._mutex = threading.Lock()
        self._queued: list[_Ticket[R, T]] = []
        # scoring passes per number of requests coalesced (bounded, like batch_sizes)
        self.batch_sizes: collections.Counter[int] = collections.Counter()

    @property
    def queued(self) -> int:
        """Requests waiting to be scored right now."""
        with self._mutex:
            return len(self._queued)

    def score(self, request: R) -> T:
        """The result of ``request``, scored alone or together with others' requests."""
        ticket: _Ticket[R, T] = _Ticket(request)
        with self._mutex:
            self._queued.append(ticket)
        with self._lock.hold(SCORE_PRIORITY):
            if not ticket.done:
                with self._mutex:
                    batch, self._queued = self._queued, []
                self._run(batch)
        if isinstance(ticket.result, BaseException):
            raise ticket.result
        return ticket.result  # type: ignore[return-value]

    def _run(self, batch: list[_Ticket[R, T]]) -> None:
        try:
            results: Sequence[T | BaseException] = self._score_all([t.request for t in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} scoring requests")
        except Exception as err:  # every caller in the batch sees the failure
            results = [err] * len(batch)
        except BaseException as err:  # an interrupt: the others must not wait for nothing
            self._finish(batch, [err] * len(batch))
            raise
        self._finish(batch, results)

    def _finish(self, batch: list[_Ticket[R, T]], results: Sequence[T | BaseException]) -> None:
        for ticket, result in zip(batch, results):
            ticket.result, ticket.done = result, True
        self.batch_sizes[len(batch)] += 1


def scoring_request(
    prefix: Prefix, batch: Sequence[Sequence[int]]
) -> tuple[Prefix, list[list[int]]]:
    """``(prefix, continuations)`` as a coalescer request, checked before it queues."""
    if not all(batch):
        raise ValueError("next_logits needs at least one token")
    return prefix, [list(tokens) for tokens in batch]


def context_errors(
    requests: Sequence[tuple[Prefix, Sequence[Sequence[int]]]], n_ctx: int
) -> dict[int, Exception]:
    """``{request index: ContextFullError}`` for requests that cannot fit ``n_ctx`` tokens."""
    errors: dict[int, Exception] = {}
    for r, (prefix, batch) in enumerate(requests):
        longest = len(prefix) + max(len(tokens) for tokens in batch)
        if longest > n_ctx:
            errors[r] = ContextFullError(f"{longest} tokens exceed the model's context of {n_ctx}")
    return errors
