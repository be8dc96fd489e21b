"""Model work off the event loop.

Contract: the event loop never runs a model step. ``run_model(fn, *args)`` runs a blocking
call in a worker thread; the await is not abandoned on cancellation, so admission slots
held around it stay held until the model work really ends. ``ThreadPump`` drives a
blocking iterator (``Assistant.respond``) one item per worker-thread hop, so the caller
can look at the client and the clock between tokens; ``aclose()`` sets the stop flag and
closes the iterator in a worker thread (shielded from cancellation), which ends the
engine's generation at its next token and frees its sequence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
_END = object()


async def run_model(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a worker thread."""
    return await anyio.to_thread.run_sync(fn, *args)


class ThreadPump(Generic[T]):
    """Async access to a blocking iterator, one item per thread hop."""

    def __init__(self, make: Callable[[Callable[[], bool]], Iterator[T]]) -> None:
        self._stop = threading.Event()
        self._it = make(self._stop.is_set)
        self._closed = False

    async def next(self) -> T | None:
        """The next item, or None when the iterator is exhausted."""
        item = await anyio.to_thread.run_sync(next, self._it, _END)
        return None if item is _END else item

    async def aclose(self) -> None:
        """Stop the work and close the iterator (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._it.close)
