"""The ASGI middleware in front of every route: metrics, API key, body size.

Contract, for HTTP requests in this order:
1. every answer is counted in ``moodchat_requests_total{route,status}`` (route is the
   matched path template, or ``unmatched``, so random paths add no label values);
2. when ``settings.api_key`` is set, a request to a path not in ``ServerState.public_paths``
   (``/healthz`` by default) without ``Authorization: Bearer <key>`` gets 401;
3. a body larger than ``settings.max_body_bytes`` gets 413, whether announced by
   Content-Length or streamed in chunks; an accepted body is replayed to the app, and later
   ``receive`` calls go to the server (so disconnects are still seen).
Refusals use the ``{"error": ...}`` body of ``moodchat.server.errors``.
"""

from __future__ import annotations

import secrets

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moodchat.server.errors import error_body
from moodchat.server.state import ServerState


class Guard:
    """Pure ASGI middleware (does not buffer responses, so SSE streams pass through)."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.state.metrics.requests.labels(label, str(status["code"])).inc()

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.state.settings
        if (
            settings.api_key
            and scope["path"] not in self.state.public_paths
            and not _authorized(scope, settings.api_key)
        ):
            await refuse(
                scope,
                receive,
                send,
                401,
                "invalid_api_key",
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        limit = settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refuse(
                scope,
                receive,
                send,
                413,
                "body_too_large",
                f"request body of {declared} bytes exceeds the limit of {limit}",
            )
            return
        body, complete = await read_body(receive, limit)
        if not complete:
            await refuse(
                scope,
                receive,
                send,
                413,
                "body_too_large",
                f"request body exceeds the limit of {limit} bytes",
            )
            return
        await self.app(scope, _replay(body, receive), send)


def _authorized(scope: Scope, key: str) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and secrets.compare_digest(
                token.strip().encode(), key.encode()
            )
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or (partial, False) once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def refuse(scope, receive, send, status, code, message, headers=None) -> None:
    """Answer with the ``{"error": ...}`` JSON body of ``status`` and ``code``."""
    response = JSONResponse(error_body(status, code, message), status_code=status, headers=headers)
    await response(scope, receive, send)
