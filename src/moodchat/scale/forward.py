"""HTTP requests relayed from a Ray Serve front to model replicas, as plain ASGI.

Contract:
- ``request_record(scope, body)`` is what travels to a replica: the picklable part of an
  HTTP scope (method, path, query, headers, client, ...) and the whole body.
- ``run_asgi(app, record)`` (on a replica) runs one request through ``app`` (the
  moodchat FastAPI app of ``create_app``) and yields its ASGI ``send`` messages
  (``http.response.start``, then ``http.response.body`` chunks) as the app sends them, so
  an event stream keeps its order and pace. When the consumer stops early (client gone,
  call cancelled), the app's next ``receive`` gives ``http.disconnect`` and the app is
  awaited to its end: generation stops and its admission slots are released.
- ``FrontApp(open_stream, max_body_bytes, retry_after_s)`` is the front's ASGI app. It
  reads the body (larger than ``max_body_bytes``: 413, as the replica's own guard would
  say), calls ``open_stream(record)`` (an async iterator of those messages: a streaming
  Serve handle call) and relays every message. A replica that fails before the response
  starts gives a JSON 503 ``replica_unavailable`` with Retry-After; one that fails after an
  event stream started ends it with an error in the stream's own dialect (``event: error``
  for moodchat's streams; a ``data: {"error": ...}`` line and ``data: [DONE]`` for the
  OpenAI route); any other started body just ends. Every error body is the server's
  ``{"error": {...}}``. A client that disconnects cancels the call (the replica then
  sees its disconnect). Lifespan scopes are answered here (the replicas own the model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moodchat.server.errors import error_body
from moodchat.server.guard import read_body, refuse
from moodchat.server.sse import sse

log = logging.getLogger("moodchat.scale")

SCOPE_KEYS = (
    "type", "http_version", "method", "scheme", "path", "raw_path", "query_string",
    "root_path", "headers", "client", "server",
)  # fmt: skip
OPENAI_STREAM_PATHS = ("/v1/chat/completions",)
OpenStream = Callable[[dict], AsyncIterator[Message]]


def request_record(scope: Scope, body: bytes) -> dict:
    """The picklable request a replica replays: scope fields and the body."""
    kept = {k: scope[k] for k in SCOPE_KEYS if k in scope}
    kept["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", ())]
    kept["root_path"] = ""
    return {"scope": kept, "body": body}


async def run_asgi(app: ASGIApp, record: dict) -> AsyncIterator[Message]:
    """Run one recorded request through ``app``; yield its send messages in order."""
    messages: asyncio.Queue[Message] = asyncio.Queue()
    gone = asyncio.Event()
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": record["body"], "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if gone.is_set():
            raise OSError("the client is gone")
        await messages.put(message)

    scope = {**record["scope"], "asgi": {"version": "3.0", "spec_version": "2.3"}}
    task = asyncio.ensure_future(app(scope, receive, send))
    try:
        async for message in _drain(messages, task):
            yield message
    finally:
        gone.set()
        with suppress(Exception):
            await asyncio.shield(task)


async def _drain(messages: asyncio.Queue, task: asyncio.Future) -> AsyncIterator[Message]:
    """Messages from the queue until the body ends or the app returns."""
    while True:
        getter = asyncio.ensure_future(messages.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            while not messages.empty():
                yield messages.get_nowait()
            task.result()  # the app's own exception, if it raised one
            return
        message = getter.result()
        yield message
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            return


class FrontApp:
    """The Serve front: reads a request, relays it to a replica, answers replica failures."""

    def __init__(self, open_stream: OpenStream, max_body_bytes: int, retry_after_s: int) -> None:
        self.open_stream = open_stream
        self.max_body_bytes = max_body_bytes
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body, complete = await read_body(receive, self.max_body_bytes)
        if not complete:
            message = f"request body exceeds the limit of {self.max_body_bytes} bytes"
            await refuse(scope, receive, send, 413, "body_too_large", message)
            return
        async with anyio.create_task_group() as group:

            async def watch() -> None:  # a client that leaves cancels the relay
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self._relay(scope, receive, request_record(scope, body), send)
            group.cancel_scope.cancel()

    async def _relay(self, scope: Scope, receive: Receive, record: dict, send: Send) -> None:
        started: Message | None = None
        stream = aiter(self.open_stream(record))
        try:
            while True:
                try:
                    message = await anext(stream)
                except StopAsyncIteration:
                    return
                except Exception as err:  # a replica that died or could not be reached
                    log.warning("replica failed on %s %s: %r", scope["method"], scope["path"], err)
                    await self._failed(scope, receive, started, send)
                    return
                if message["type"] == "http.response.start":
                    started = message
                await send(message)  # raises when the client is gone: the call is cancelled
        finally:
            with anyio.CancelScope(shield=True):
                await _close(stream)

    async def _failed(
        self, scope: Scope, receive: Receive, started: Message | None, send: Send
    ) -> None:
        code = "replica_unavailable"
        message = "the model replica serving this request stopped; retry"
        if started is None:
            retry = {"Retry-After": str(self.retry_after_s)}
            await refuse(scope, receive, send, 503, code, message, retry)
            return
        body = error_body(503, code, message)
        if _is_event_stream(started):
            if scope["path"] in OPENAI_STREAM_PATHS:
                tail = sse(body) + sse("[DONE]")
            else:
                tail = sse(body, "error")
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _close(stream) -> None:
    """Stop a relayed call: cancel a Serve call, close a local generator."""
    cancel = getattr(stream, "cancel", None)
    if cancel is not None:
        cancel()
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with suppress(Exception):
            await aclose()


def _is_event_stream(start: Message) -> bool:
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type":
            return value.split(b";")[0].strip() == b"text/event-stream"
    return False


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
