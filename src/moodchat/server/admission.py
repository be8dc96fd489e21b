"""Admission control: bounded work in front of the model, refusals instead of pile-ups.

Contract: a ``Gate`` admits at most ``limit`` holders at once and lets at most ``queue``
more wait, first come first served. ``async with gate.enter(timeout)``:
- a free slot is taken at once;
- with every slot busy and the wait queue full, ``ApiError(429)`` with Retry-After is
  raised immediately (nothing piles up);
- a caller that waited ``timeout`` seconds without a slot gets ``ApiError(503)`` with
  Retry-After; a cancelled waiter leaves the queue, and a slot handed to it is passed on.
Gates live on the event loop (no threads touch them); ``active`` and ``waiting`` feed the
queue-depth metrics. The server uses one gate per role so short sentiment requests never
queue behind whole chat replies; inside the engine, scoring steps run ahead of waiting
generation steps (``moodchat.engine.scheduling``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import anyio

from moodchat.server.errors import ApiError


class Gate:
    """A counting semaphore with a bounded FIFO wait queue."""

    def __init__(
        self,
        name: str,
        limit: int,
        queue: int,
        retry_after: int,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.limit = limit
        self.queue = queue
        self.retry_after = retry_after
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_reject = on_reject

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot right now."""
        return sum(1 for f in self._waiters if not f.done())

    @asynccontextmanager
    async def enter(self, timeout: float) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block (see the module contract)."""
        await self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, timeout: float) -> None:
        """Take a slot, wait for one, or raise 429 / 503 (see the module contract)."""
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.queue:
            self._reject("queue_full")
            raise ApiError(
                429,
                "queue_full",
                f"the server is busy: {self.active} {self.name} requests running and "
                f"{self.waiting} waiting; retry after {self.retry_after} s",
                retry_after=self.retry_after,
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            with anyio.fail_after(timeout):
                await asyncio.shield(fut)
        except BaseException as exc:
            self._abandon(fut)
            if isinstance(exc, TimeoutError):
                self._reject("queue_timeout")
                raise ApiError(
                    503,
                    "queue_timeout",
                    f"no {self.name} slot became free within {timeout:g} s; retry later",
                    retry_after=self.retry_after,
                ) from None
            raise

    def _abandon(self, fut: asyncio.Future[None]) -> None:
        """A waiter gives up: leave the queue, or pass on a slot already handed over."""
        if fut.done() and not fut.cancelled():
            self.release()
        else:
            fut.cancel()
            with suppress(ValueError):
                self._waiters.remove(fut)

    def release(self) -> None:
        """Give the slot to the next waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1

    def _reject(self, reason: str) -> None:
        if self._on_reject is not None:
            self._on_reject(self.name, reason)
