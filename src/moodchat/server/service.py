"""What a request does with the model: validation, admission, sessions, events.

Contract:
- ``require_assistant(state)`` returns the loaded ``Assistant`` or raises 503
  ``model_loading`` (with Retry-After) while it loads or after it failed to load.
- ``check_text`` validates one user text against ``max_text_chars`` (422 otherwise).
- ``analyze(state, texts)`` scores texts under the sentiment gate and returns ``Sentiment``s.
- ``prepare_chat`` validates a chat request, caps ``max_tokens`` at the ``max_tokens``
  setting and resolves its history. Session rule: with a
  ``session_id`` the stored session history is used and a request ``history`` is refused
  (422), so the server's record is the only truth; without one, the request ``history``
  (at most ``max_history_messages`` turns) is used and nothing is stored.
- ``collect_reply`` runs ``chat_events`` to the end for a non-streamed answer.
- ``chat_events(state, job, is_disconnected)`` yields ``(event, payload)`` pairs:
  ``("sentiment", {...})``, ``("token", {"text"})``..., ``("done", {...})``. With a
  session it stores the user message (after the sentiment) and the reply (after the
  last token) and adds ``session_id`` / ``escalated`` to the done payload. Between tokens
  it stops the generation when the client is gone (nothing more is yielded) or the
  request's deadline has passed (``ApiError`` 503 ``timeout``). The caller holds the chat
  gate around it (``chat_slot``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

import anyio

from moodchat.assistant import Assistant, to_messages
from moodchat.engine import SamplingParams
from moodchat.errors import InputError, MoodchatError
from moodchat.inputs import clean_text
from moodchat.server.errors import ApiError, from_moodchat_error
from moodchat.server.state import ServerState
from moodchat.server.worker import ThreadPump, run_model
from moodchat.sessions.protocol import check_session_id
from moodchat.types import DoneEvent, Message, Sentiment, SentimentEvent, TokenEvent


@dataclass
class ChatJob:
    """A validated chat request."""

    message: str
    history: list[Message]
    session_id: str | None
    max_tokens: int
    sampling: SamplingParams | None = None
    deadline: float = field(default=0.0)


def require_assistant(state: ServerState) -> Assistant:
    """The loaded assistant, or a 503 while there is none."""
    bot = state.assistant
    if bot is None:
        why = state.load_error or "the model is still loading"
        raise ApiError(503, "model_loading", why, retry_after=state.settings.retry_after_s)
    return bot


def check_text(state: ServerState, text: object, where: str) -> str:
    """One user text, cleaned, or a 422 naming the field."""
    try:
        return clean_text(text, max_chars=state.settings.max_text_chars)
    except InputError as err:
        raise ApiError(422, err.code, f"{where}: {err}", param=where) from None


def deadline_for(state: ServerState, started: float) -> float:
    """The monotonic (anyio clock) time when a request started at ``started`` expires."""
    return started + state.settings.request_timeout_s


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (at least a tiny positive number)."""
    return max(deadline - anyio.current_time(), 0.001)


async def analyze(state: ServerState, texts: list[str], deadline: float) -> list[Sentiment]:
    """Sentiment of each text, under the sentiment gate, off the event loop."""
    bot = require_assistant(state)
    started = time.perf_counter()
    async with state.gates["sentiment"].enter(remaining(deadline)):
        try:
            if len(texts) == 1:
                results = [await run_model(bot.analyze, texts[0])]
            else:
                results = await run_model(bot.analyze_many, texts)
        except MoodchatError as err:
            raise from_moodchat_error(err, state.settings.retry_after_s) from None
    state.metrics.latency.labels("sentiment").observe(time.perf_counter() - started)
    return results


async def prepare_chat(
    state: ServerState,
    message: object,
    history: list | None,
    session_id: str | None,
    max_tokens: int | None,
) -> ChatJob:
    """Validate a chat request and resolve its history (see the session rule above)."""
    settings = state.settings
    text = check_text(state, message, "message")
    if max_tokens is not None and max_tokens < 1:
        raise ApiError(422, "invalid_max_tokens", "max_tokens must be >= 1", param="max_tokens")
    if session_id is not None:
        if history:
            raise ApiError(
                422,
                "history_with_session",
                "give either session_id (the server keeps the history) or history, not both",
                param="history",
            )
        sid = valid_session_id(session_id)
        turns = await run_model(state.sessions.history, sid)
        turns = turns[-settings.max_history_messages :] if settings.max_history_messages else []
    else:
        sid, turns = None, _history(state, history or [])
    return ChatJob(text, turns, sid, min(max_tokens or settings.max_tokens, settings.max_tokens))


def valid_session_id(session_id: str) -> str:
    """``session_id`` if well formed, else a 422 ``invalid_session_id`` API error."""
    try:
        return check_session_id(session_id)
    except InputError as err:
        raise ApiError(422, "invalid_session_id", str(err), param="session_id") from None


def _history(state: ServerState, history: list) -> list[Message]:
    limit = state.settings.max_history_messages
    if len(history) > limit:
        raise ApiError(
            422,
            "history_too_long",
            f"history has {len(history)} messages (the limit is {limit})",
            param="history",
        )
    for i, item in enumerate(history):
        content = item.get("content") if isinstance(item, dict) else None
        check_text(state, content, f"history[{i}].content")
    try:
        return to_messages(history)
    except InputError as err:
        raise ApiError(422, err.code, str(err), param="history") from None


async def chat_events(
    state: ServerState, job: ChatJob, is_disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[tuple[str, dict]]:
    """The events of one reply (see the module contract)."""
    bot = require_assistant(state)
    metrics = state.metrics
    try:
        pump = ThreadPump(
            lambda stop: bot.respond(
                job.message,
                job.history,
                max_new_tokens=job.max_tokens,
                sampling=job.sampling,
                should_stop=stop,
            )
        )
    except MoodchatError as err:
        raise from_moodchat_error(err, state.settings.retry_after_s) from None
    seen = {"pieces": 0}
    session: dict = {}
    try:
        while True:
            if await is_disconnected():
                metrics.cancelled.labels("disconnect").inc()
                return
            if anyio.current_time() > job.deadline:
                metrics.cancelled.labels("timeout").inc()
                raise ApiError(
                    503,
                    "timeout",
                    "the request took longer than request_timeout_s",
                    retry_after=state.settings.retry_after_s,
                )
            try:
                event = await pump.next()
            except MoodchatError as err:
                raise from_moodchat_error(err, state.settings.retry_after_s) from None
            if event is None:
                return
            yield await _payload(state, job, event, session, seen)
    finally:
        await pump.aclose()


async def collect_reply(
    state: ServerState, job: ChatJob, is_disconnected: Callable[[], Awaitable[bool]]
) -> tuple[dict | None, dict]:
    """A whole reply's ``sentiment`` and ``done`` payloads; 499 when the client left first."""
    mood, done = None, None
    async with aclosing(chat_events(state, job, is_disconnected)) as events:
        async for kind, payload in events:
            if kind == "sentiment":
                mood = payload
            elif kind == "done":
                done = payload
    if done is None:
        raise ApiError(499, "client_closed", "the client closed the connection")
    return mood, done


async def _payload(
    state: ServerState, job: ChatJob, event, session: dict, seen: dict
) -> tuple[str, dict]:
    if isinstance(event, SentimentEvent):
        if job.session_id is not None:
            after = await run_model(
                state.sessions.record_user, job.session_id, job.message, event.sentiment
            )
            session.update(session_id=job.session_id, escalated=bool(after.escalated))
        return "sentiment", sentiment_dict(event.sentiment)
    if isinstance(event, TokenEvent):
        state.metrics.tokens.inc()  # one piece is one token, or a few for a split character
        seen["pieces"] += 1
        return "token", {"text": event.text}
    assert isinstance(event, DoneEvent)
    state.metrics.tokens.inc(max(event.completion_tokens - seen["pieces"], 0))
    if job.session_id is not None and event.reply:
        await run_model(state.sessions.record_reply, job.session_id, event.reply)
    return "done", event.to_dict() | session


def sentiment_dict(s: Sentiment) -> dict:
    """The public JSON of a sentiment verdict (the role has already rounded its numbers)."""
    return s.to_dict()


async def chat_slot(state: ServerState, deadline: float) -> Callable[[], Awaitable[None]]:
    """Take a chat slot (429/503 when none) and return the coroutine that frees it once."""
    gate = state.gates["chat"]
    started = time.perf_counter()
    await gate.acquire(remaining(deadline))
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            gate.release()
            state.metrics.latency.labels("chat").observe(time.perf_counter() - started)

    return release
