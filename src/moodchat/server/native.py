"""The native API: ``POST /v1/sentiment`` and ``POST /v1/chat``.

Contract:
- ``/v1/sentiment`` takes exactly one of ``text`` or ``texts`` (1..``max_batch_texts``) and
  answers ``{"model", "results": [{"label", "confidence", "probabilities", ...}]}`` in
  input order.
- ``/v1/chat`` takes ``message`` and optionally ``session_id`` or ``history`` (not both),
  ``max_tokens`` (capped at the setting) and ``stream``. With ``stream: true`` the answer
  is ``text/event-stream``: ``event: sentiment``, then ``event: token`` per text delta,
  then ``event: done`` (reply, finish_reason, token counts, timings, and ``session_id`` /
  ``escalated`` with a session); a failure after the stream began arrives as
  ``event: error`` with the usual error body. Without stream the same content is one JSON
  object. Errors before the first byte (validation, 429/503 admission) are plain JSON
  error answers with their status.
"""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from moodchat.server.errors import ApiError
from moodchat.server.service import (
    ChatJob,
    analyze,
    chat_events,
    chat_slot,
    check_text,
    collect_reply,
    deadline_for,
    prepare_chat,
    sentiment_dict,
)
from moodchat.server.sse import EventStream, sse
from moodchat.server.state import ServerState, server_state
from moodchat.sessions.protocol import SESSION_ID

router = APIRouter(prefix="/v1", tags=["moodchat"])


class SentimentRequest(BaseModel):
    """Exactly one of ``text`` or ``texts``."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="One text to label.")
    texts: list[str] | None = Field(None, description="Several texts, labelled in order.")


class SentimentResult(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    probabilities: dict[str, float]
    truncated: bool
    n_tokens: int
    latency_ms: float


class SentimentResponse(BaseModel):
    model: str
    results: list[SentimentResult]


class HistoryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(description="The user's message.")
    session_id: str | None = Field(
        None,
        pattern=SESSION_ID.pattern,
        description="Keep the conversation on the server under this id (excludes history).",
    )
    history: list[HistoryMessage] | None = Field(
        None, description="Earlier turns, oldest first, when no session_id is given."
    )
    stream: bool = Field(False, description="Answer as server-sent events.")
    max_tokens: int | None = Field(
        None, ge=1, description="Reply token limit (capped at the server's max_tokens)."
    )


class ChatResponse(BaseModel):
    sentiment: SentimentResult
    reply: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    timings_ms: dict[str, float]
    truncated_input: bool
    session_id: str | None = None
    escalated: bool | None = None


def model_name(state: ServerState) -> str:
    """The served model's id (file stem of the loaded GGUF)."""
    bot = state.assistant
    path = bot.engine.model_path if bot is not None else (state.settings.model or "moodchat")
    return Path(path).stem if path.endswith(".gguf") else path


@router.post("/sentiment", response_model=SentimentResponse)
async def sentiment(body: SentimentRequest, request: Request) -> dict:
    """Label one text or several texts positive or negative, with a confidence."""
    state = server_state(request)
    deadline = deadline_for(state, anyio.current_time())
    texts = _texts(state, body)
    results = await analyze(state, texts, deadline)
    return {"model": model_name(state), "results": [sentiment_dict(r) for r in results]}


def _texts(state: ServerState, body: SentimentRequest) -> list[str]:
    if (body.text is None) == (body.texts is None):
        raise ApiError(422, "invalid_body", "give exactly one of 'text' or 'texts'")
    if body.text is not None:
        return [check_text(state, body.text, "text")]
    limit = state.settings.max_batch_texts
    if not 1 <= len(body.texts) <= limit:
        raise ApiError(
            422,
            "invalid_batch",
            f"texts must hold 1..{limit} items, not {len(body.texts)}",
            param="texts",
        )
    return [check_text(state, t, f"texts[{i}]") for i, t in enumerate(body.texts)]


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat(body: ChatRequest, request: Request):
    """The mood of the message, then a warm reply (streamed as SSE with ``stream: true``)."""
    state = server_state(request)
    started = anyio.current_time()
    history = [m.model_dump() for m in body.history] if body.history is not None else None
    job = await prepare_chat(state, body.message, history, body.session_id, body.max_tokens)
    job.deadline = deadline_for(state, started)
    release = await chat_slot(state, job.deadline)
    if body.stream:
        return EventStream(_stream(state, job, request), on_close=release)
    try:
        return await _collect(state, job, request)
    finally:
        await release()


async def _stream(state: ServerState, job: ChatJob, request: Request):
    try:
        async with aclosing(chat_events(state, job, request.is_disconnected)) as events:
            async for kind, payload in events:
                yield sse(payload, kind)
    except ApiError as err:
        yield sse(err.body(), "error")


async def _collect(state: ServerState, job: ChatJob, request: Request) -> dict:
    mood, done = await collect_reply(state, job, request.is_disconnected)
    out = ({"sentiment": mood} if mood is not None else {}) | done
    out.pop("type", None)
    return out
