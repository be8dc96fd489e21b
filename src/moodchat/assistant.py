"""The Python API: one model, two roles, sentiment first.

Contract:
- ``Assistant.load()`` loads the default model (pulling it when absent and allowed) or the
  one named, builds the chat template, caches both role prefixes and warms up. What to
  load is one ``ModelOptions`` (model, backend, threads, dtype, auto-pull, ``RoleOptions``).
- Each role uses its trained LoRA adapter when one fits the model
  (``RoleOptions.sentiment_adapter`` / ``chat_adapter``: ``None``/``"auto"`` = the shipped
  adapter if the model is the one it was trained on, ``"none"`` = prompt-only, or a path).
  With an adapter the role runs the adapter's prompt version (and, for sentiment, its
  temperature); the other role's decodes never see it. Naming a prompt version with
  ``"auto"`` chooses that role's prompt-only path.
- ``analyze(text)`` -> ``Sentiment``; ``analyze_many(texts)`` -> ``list[Sentiment]`` in
  input order. Invalid text raises ``InputError`` before any model work. Labels are
  ``positive`` / ``negative`` / ``neutral`` where the sentiment prompt has a neutral answer
  (``RoleOptions.labels="binary"``: the seed's two, from the same pass).
- ``respond`` reads the message's mood in its conversation: the analyst sees the previous
  user turn of ``history`` (cut to its head and tail) before the message.
- ``respond(message, history)`` yields one ``SentimentEvent``, then ``TokenEvent``s (whole
  UTF-8 characters), then one ``DoneEvent``. A reply cut by the token limit
  (``finish_reason="length"``) ends at its last complete sentence in ``DoneEvent.reply``
  (what sessions store); the streamed tokens were already sent. Invalid input raises
  ``InputError`` before the first event. Closing the iterator stops generation at the next
  token.
- The assistant is safe to share between threads: the engine serializes model steps and
  serves sentiment scoring ahead of waiting generation steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from moodchat.engine import SamplingParams, load_engine
from moodchat.engine.base import Engine
from moodchat.engine.hardware import mib, peak_rss_bytes, rss_bytes
from moodchat.errors import InputError
from moodchat.inputs import clean_text
from moodchat.prompts import SentimentPrompt, chat_prompt, sentiment_prompt
from moodchat.roles import ChatRole, SentimentRole
from moodchat.roles.chat import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_MAX_PROMPT_TOKENS,
    complete_sentences,
)
from moodchat.roles.sentiment import DEFAULT_MAX_INPUT_TOKENS
from moodchat.template import ChatML
from moodchat.types import DoneEvent, Event, Message, Sentiment, SentimentEvent, TokenEvent
from moodchat.weights.adapters import AdapterInfo, select_adapter
from moodchat.weights.models import resolve_model

HistoryItem = Message | Mapping[str, str]


@dataclass(frozen=True)
class RoleOptions:
    """Which prompt versions and token budgets the two roles use."""

    sentiment_prompt: str | None = None
    chat_prompt: str | None = None
    sentiment_adapter: str | None = None
    chat_adapter: str | None = None
    labels: str = "three"  # "binary": positive / negative only, from the same pass
    sentiment_max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS
    chat_max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class ModelOptions:
    """Everything that decides which model is loaded and how: the one loading recipe.

    ``Assistant.load``, the CLI, the server (``ModelSettings.options()``), ``moodchat eval``
    and the benchmark children all build one of these and nothing else.
    """

    model: str | None = None
    backend: str = "llama"
    threads: int | None = None
    dtype: str | None = None
    auto_pull: bool = True
    roles: RoleOptions = field(default_factory=RoleOptions)
    parallel: int | None = None  # replies decoded together (llama.cpp; None: its default)

    def engine_kwargs(self) -> dict:
        """Constructor options for the backend (``dtype`` exists for transformers only;
        ``parallel`` sizes llama.cpp's reply sequences, transformers has none to size)."""
        kwargs: dict = {"threads": self.threads}
        if self.dtype is not None:
            if self.backend != "transformers":
                raise InputError("dtype applies to the transformers backend only")
            kwargs["dtype"] = self.dtype
        if self.parallel is not None and self.backend == "llama":
            kwargs["parallel"] = self.parallel
        return kwargs

    def load_engine(self) -> Engine:
        """Resolve the model (pulling the default when allowed) and load its engine."""
        source = resolve_model(self.model, backend=self.backend, auto_pull=self.auto_pull)
        return load_engine(self.backend, source, **self.engine_kwargs())


def to_messages(history: Iterable[HistoryItem] | None) -> list[Message]:
    """Validate a history of ``Message`` or ``{"role", "content"}`` dicts."""
    out: list[Message] = []
    for i, item in enumerate(history or ()):
        if isinstance(item, Message):
            role, content = item.role, item.content
        elif isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
        else:
            raise InputError(f"history[{i}] must be a message, not {type(item).__name__}")
        if role not in ("user", "assistant"):
            raise InputError(f"history[{i}].role must be 'user' or 'assistant', not {role!r}")
        out.append(Message(role, clean_text(content)))
    return out


class Assistant:
    """A loaded model playing the sentiment analyst and the empathetic assistant."""

    def __init__(self, engine: Engine, options: RoleOptions | None = None) -> None:
        self.engine = engine
        self.options = options or RoleOptions()
        self.template = ChatML(engine)
        opts = self.options
        self.sentiment_adapter = choose_adapter("sentiment", engine, opts)
        self.chat_adapter = choose_adapter("chat", engine, opts)
        self.sentiment = SentimentRole(
            engine,
            self.template,
            _sentiment_prompt_for(opts.sentiment_prompt, self.sentiment_adapter),
            max_input_tokens=opts.sentiment_max_input_tokens,
            adapter=_load(engine, self.sentiment_adapter),
            labels=opts.labels,
        )
        self.chat = ChatRole(
            engine,
            self.template,
            chat_prompt(self.chat_adapter.prompt if self.chat_adapter else opts.chat_prompt),
            max_prompt_tokens=opts.chat_max_prompt_tokens,
            adapter=_load(engine, self.chat_adapter),
        )

    @classmethod
    def load(cls, model: str | ModelOptions | None = None, **fields) -> Assistant:
        """Load a model (default: the offline GGUF) and prepare both roles.

        ``model`` is a ``ModelOptions`` or a model path/id; ``fields`` are ``ModelOptions``
        fields (``backend``, ``threads``, ``dtype``, ``auto_pull``, ``roles``).
        """
        if isinstance(model, ModelOptions):
            options = replace(model, **fields)
        else:
            options = ModelOptions(model=model, **fields)
        engine = options.load_engine()
        try:
            return cls(engine, options.roles)
        except BaseException:
            engine.close()
            raise

    def analyze(self, text: str, context: str | None = None) -> Sentiment:
        """Sentiment of one text (read after ``context``, the message it answers, if given)."""
        return self.sentiment.analyze(text, context=context)

    def analyze_many(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> list[Sentiment]:
        """Sentiment of many texts, batched; same order as ``texts``. ``contexts`` gives
        each text the previous message it answers (None: read alone)."""
        return self.sentiment.analyze_many(texts, contexts)

    def respond(
        self,
        message: str,
        history: Iterable[HistoryItem] | None = None,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        sampling: SamplingParams | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[Event]:
        """Sentiment of ``message`` first, then the streamed reply, then a summary."""
        text = clean_text(message)
        turns = to_messages(history)
        if max_new_tokens < 1:
            raise InputError("max_new_tokens must be at least 1")
        return self._respond(text, turns, max_new_tokens, sampling, should_stop)

    def _respond(self, text, turns, max_new_tokens, sampling, should_stop) -> Iterator[Event]:
        start = time.perf_counter()
        mood = self.sentiment.analyze(text, context=previous_user_turn(turns))
        yield SentimentEvent(mood)
        reply_start = time.perf_counter()
        pieces: list[str] = []
        stream = self.chat.stream(
            text,
            turns,
            max_new_tokens=max_new_tokens,
            sampling=sampling or self.options.sampling,
            should_stop=should_stop,
        )
        while True:
            try:
                piece = next(stream)
            except StopIteration as stop:
                stats = stop.value
                break
            pieces.append(piece)
            yield TokenEvent(piece)
        end = time.perf_counter()
        reply = "".join(pieces).strip()
        yield DoneEvent(
            reply=complete_sentences(reply) if stats.finish_reason == "length" else reply,
            finish_reason=stats.finish_reason,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            truncated_input=stats.truncated_input,
            timings_ms=_timings(start, reply_start, end, stats),
        )

    def reply(
        self, message: str, history: Iterable[HistoryItem] | None = None, **kw
    ) -> tuple[Sentiment, str]:
        """Non-streaming convenience: (sentiment, reply text)."""
        mood, done = None, None
        for ev in self.respond(message, history, **kw):
            if isinstance(ev, SentimentEvent):
                mood = ev.sentiment
            elif isinstance(ev, DoneEvent):
                done = ev
        return mood, done.reply

    def info(self) -> dict:
        """Model, backend, prompts and memory facts."""
        sentiment, chat = self.sentiment_adapter, self.chat_adapter
        return self.engine.info() | {
            "sentiment_adapter": sentiment.to_dict() if sentiment else None,
            "chat_adapter": chat.to_dict() if chat else None,
            "sentiment_prompt": self.sentiment.prompt.name,
            "chat_prompt": self.chat.prompt.name,
            "rss_mib": mib(rss_bytes()),
            "peak_rss_mib": mib(peak_rss_bytes()),
        }

    def close(self) -> None:
        """Free the model."""
        self.engine.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def choose_adapter(role: str, engine: Engine, options: RoleOptions) -> AdapterInfo | None:
    """``role``'s adapter for this engine's model under ``options`` (None: prompt-only)."""
    choice = getattr(options, f"{role}_adapter")
    prompt = getattr(options, f"{role}_prompt")
    named_prompt = prompt not in (None, "", "default")
    if choice in (None, "", "auto") and named_prompt:
        return None
    info = select_adapter(role, choice, engine.model_path)
    if info is not None and named_prompt and prompt != info.prompt:
        raise InputError(
            f"the {role} adapter {info.path} was trained with prompt {info.prompt!r}, "
            f"not {prompt!r}; drop --{role}-prompt or pass --{role}-adapter none"
        )
    return info


def previous_user_turn(turns: Sequence[Message]) -> str | None:
    """The latest user turn of a history: the context the analyst reads a message in."""
    return next((m.content for m in reversed(turns) if m.role == "user"), None)


def _load(engine: Engine, adapter: AdapterInfo | None) -> int | None:
    return engine.load_adapter(adapter.path) if adapter else None


def _sentiment_prompt_for(name: str | None, adapter: AdapterInfo | None) -> SentimentPrompt:
    if adapter is None:
        return sentiment_prompt(name)
    return replace(sentiment_prompt(adapter.prompt), temperature=adapter.temperature)


def _timings(start: float, reply_start: float, end: float, stats) -> dict[str, float]:
    out = {
        "sentiment_ms": round((reply_start - start) * 1000, 2),
        "reply_ms": round((end - reply_start) * 1000, 2),
        "total_ms": round((end - start) * 1000, 2),
    }
    if stats.first_token_ms is not None:
        out["first_token_ms"] = round(stats.first_token_ms, 2)
        gen_s = (end - reply_start) - stats.first_token_ms / 1000
        if stats.completion_tokens > 1 and gen_s > 0:
            out["tokens_per_s"] = round((stats.completion_tokens - 1) / gen_s, 2)
    return out
