"""Server-sent events: framing, and a streaming response that always releases its work.

Contract:
- ``sse(data, event=None)`` frames one event: an optional ``event:`` line, one ``data:``
  line of compact JSON (``ensure_ascii=False``: whole UTF-8 characters; JSON escapes every
  newline, so a payload never breaks the framing) or a bare string such as ``[DONE]``,
  then a blank line.
- ``EventStream`` is a ``StreamingResponse`` with the SSE headers (no caching, no proxy
  buffering) that runs ``on_close`` exactly once when the response ends for any reason,
  including a stream that never started because the client was already gone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: dict | str, event: str | None = None) -> bytes:
    """One framed server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class EventStream(StreamingResponse):
    """``text/event-stream`` response with a guaranteed cleanup hook."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self.body_iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
                if self._on_close is not None:
                    await self._on_close()
