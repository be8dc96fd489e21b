"""OpenAI-compatible endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Contract (the shapes the official ``openai`` Python client parses):
- ``/v1/models`` lists the one served model; ``/v1/models/{id}`` returns it or 404.
- ``/v1/chat/completions``: the last message must come from the user; earlier ``user`` /
  ``assistant`` messages are the history; ``system`` / ``developer`` messages are
  ignored (the empathetic role keeps its own system prompt: user-supplied text is data,
  never instructions to the server); ``tool`` messages and non-text content parts are
  refused (422). Any ``model`` name is accepted and answered by the served model.
  ``max_tokens`` / ``max_completion_tokens`` are capped at the server's ``max_tokens``;
  ``temperature``, ``top_p``, ``frequency_penalty``, ``presence_penalty`` and ``seed``
  are honoured (over the server's sampling settings); ``n`` must be 1.
- Non-streaming: a ``chat.completion`` object with ``usage``. Streaming: SSE ``data:``
  lines of ``chat.completion.chunk`` objects; the first delta carries the role, then
  content deltas, then a chunk with an empty delta, the ``finish_reason`` and ``usage``;
  with ``stream_options.include_usage`` a further chunk with no choices and the usage;
  then ``data: [DONE]``. A failure after the first byte is a ``data: {"error": ...}``
  line (the client raises it) before ``[DONE]``.
- Every answer carries the extra field ``sentiment`` (the last user message's mood); in a
  stream it rides on the first chunk.
"""

from __future__ import annotations

import time
import uuid
from contextlib import aclosing
from dataclasses import replace
from typing import Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from moodchat.engine import SamplingParams
from moodchat.server.errors import ApiError
from moodchat.server.native import model_name
from moodchat.server.service import (
    ChatJob,
    chat_events,
    chat_slot,
    collect_reply,
    deadline_for,
    prepare_chat,
)
from moodchat.server.sse import EventStream, sse
from moodchat.server.state import ServerState, server_state

router = APIRouter(prefix="/v1", tags=["openai"])

FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[CompletionMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: int | None = Field(None, ge=1, le=1)


@router.get("/models")
async def list_models(request: Request) -> dict:
    """The served model, OpenAI style."""
    return {"object": "list", "data": [_model_card(server_state(request))]}


@router.get("/models/{model_id}")
async def get_model(model_id: str, request: Request) -> dict:
    """One model by id (only the served one exists)."""
    card = _model_card(server_state(request))
    if model_id != card["id"]:
        raise ApiError(
            404,
            "model_not_found",
            f"no model {model_id!r}; this server serves {card['id']!r}",
            param="model",
        )
    return card


def _model_card(state: ServerState) -> dict:
    return {
        "id": model_name(state),
        "object": "model",
        "created": int(state.started_at),
        "owned_by": "moodchat",
    }


@router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(body: CompletionRequest, request: Request):
    """An empathetic reply in OpenAI's chat-completion form, with the sentiment alongside."""
    state = server_state(request)
    started = anyio.current_time()
    message, history = _split(body.messages)
    limit = body.max_completion_tokens or body.max_tokens
    job = await prepare_chat(state, message, history, None, limit)
    job.sampling = _sampling(body, state.assistant.options.sampling)
    job.deadline = deadline_for(state, started)
    meta = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": model_name(state),
    }
    release = await chat_slot(state, job.deadline)
    if body.stream:
        usage_chunk = bool(body.stream_options and body.stream_options.include_usage)
        return EventStream(_chunks(state, job, request, meta, usage_chunk), on_close=release)
    try:
        return await _completion(state, job, request, meta)
    finally:
        await release()


def _text(content: str | list[ContentPart] | None, i: int) -> str | None:
    if content is None or isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise ApiError(
                422,
                "unsupported_content",
                f"messages[{i}]: only text content parts are supported, not {part.type!r}",
                param="messages",
            )
        parts.append(part.text)
    return "".join(parts)


def _split(messages: list[CompletionMessage]) -> tuple[str, list[dict]]:
    """(last user message, earlier user/assistant turns)."""
    turns: list[dict] = []
    for i, m in enumerate(messages):
        if m.role in ("tool", "function"):
            raise ApiError(
                422,
                "unsupported_role",
                f"messages[{i}]: {m.role!r} messages are not supported",
                param="messages",
            )
        text = _text(m.content, i)
        if m.role in ("user", "assistant") and text is not None:
            turns.append({"role": m.role, "content": text})
    if not turns or messages[-1].role != "user" or turns[-1]["role"] != "user":
        raise ApiError(
            422,
            "invalid_messages",
            "the last message must be a user message with text content",
            param="messages",
        )
    return turns[-1]["content"], turns[:-1]


_SAMPLING_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed")


def _sampling(body: CompletionRequest, base: SamplingParams) -> SamplingParams | None:
    """``base`` with the request's sampling fields; None when the request sets none."""
    given = {k: getattr(body, k) for k in _SAMPLING_FIELDS if getattr(body, k) is not None}
    return replace(base, **given) if given else None


def _usage(done: dict) -> dict:
    p, c = done["prompt_tokens"], done["completion_tokens"]
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


async def _completion(state: ServerState, job: ChatJob, request: Request, meta: dict) -> dict:
    mood, done = await collect_reply(state, job, request.is_disconnected)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": done["reply"]},
        "logprobs": None,
        "finish_reason": FINISH[done["finish_reason"]],
    }
    return meta | {
        "object": "chat.completion",
        "choices": [choice],
        "usage": _usage(done),
        "sentiment": mood,
    }


def _chunk(meta: dict, delta: dict, finish: str | None = None, **extra) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return sse(meta | {"object": "chat.completion.chunk", "choices": [choice]} | extra)


async def _chunks(
    state: ServerState, job: ChatJob, request: Request, meta: dict, usage_chunk: bool
):
    try:
        async with aclosing(chat_events(state, job, request.is_disconnected)) as events:
            async for kind, payload in events:
                if kind == "sentiment":
                    yield _chunk(meta, {"role": "assistant", "content": ""}, sentiment=payload)
                elif kind == "token":
                    yield _chunk(meta, {"content": payload["text"]})
                else:
                    usage = _usage(payload)
                    yield _chunk(meta, {}, FINISH[payload["finish_reason"]], usage=usage)
                    if usage_chunk:
                        yield sse(
                            meta
                            | {"object": "chat.completion.chunk", "choices": [], "usage": usage}
                        )
    except ApiError as err:
        yield sse(err.body())
    yield sse("[DONE]")
