"""Server settings: the one source of truth for defaults, env vars and CLI flags.

Contract: ``ServerSettings`` reads ``MOODCHAT_<FIELD>`` environment variables (for
example ``MOODCHAT_PORT=9000``, ``MOODCHAT_API_KEY=...``); values passed to the
constructor (the ``moodchat serve`` flags) win over the environment, which wins over the
defaults. Every field carries a description: ``moodchat serve --help`` and the settings
table in ``docs/server.md`` are generated from it (``settings_table()``). Other modules
add fields here, never read ``os.environ`` themselves.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class ModelSettings(BaseSettings):
    """Which model the server loads and how: the fields of ``ModelOptions``."""

    model_config = SettingsConfigDict(env_prefix="MOODCHAT_", extra="ignore")

    model: str | None = Field(
        None, description="GGUF file or model id (default: the offline Qwen2.5-Coder-0.5B GGUF)."
    )
    backend: Literal["llama", "transformers"] = Field("llama", description="Inference backend.")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the model (default: physical cores)."
    )
    dtype: Literal["float32", "bfloat16"] | None = Field(
        None, description="Weight dtype for the transformers backend (default: float32)."
    )
    sentiment_prompt: str | None = Field(
        None, description="Sentiment prompt version (see `moodchat prompts`)."
    )
    chat_prompt: str | None = Field(None, description="Chat prompt version.")
    sentiment_adapter: str | None = Field(
        None,
        description="Sentiment LoRA adapter: a path, 'auto' (default: the shipped one when the "
        "model is the one it was trained on) or 'none' (prompt-only).",
    )
    chat_adapter: str | None = Field(
        None, description="Chat LoRA adapter: a path, 'auto' (default) or 'none' (prompt-only)."
    )
    labels: Literal["three", "binary"] = Field(
        "three",
        description="Moods read: positive / negative / neutral (where the sentiment prompt "
        "has a neutral answer) or binary (the seed's two labels, from the same pass).",
    )
    auto_pull: bool = Field(
        True, description="Download the default model at startup when it is absent."
    )

    def options(self):
        """These settings as the ``ModelOptions`` that ``Assistant.load`` takes."""
        from moodchat.assistant import ModelOptions, RoleOptions

        roles = RoleOptions(
            sentiment_prompt=self.sentiment_prompt,
            chat_prompt=self.chat_prompt,
            sentiment_adapter=self.sentiment_adapter,
            chat_adapter=self.chat_adapter,
            labels=self.labels,
        )
        return ModelOptions(
            self.model, self.backend, self.threads, self.dtype, self.auto_pull, roles
        )


def default_parallel() -> int:
    """min(4, max(2, CPU count))"""
    return min(4, max(2, os.cpu_count() or 1))


def default_text(field: FieldInfo) -> str:
    """A field's default as the docs and ``--help`` show it ('' for none)."""
    if field.default_factory is not None:
        return str(field.default_factory.__doc__)
    return "" if field.default is None else str(field.default)


class ServerSettings(ModelSettings):
    """Everything ``moodchat serve`` can be told: the model settings, then the server's."""

    host: str = Field("127.0.0.1", description="Address to bind (0.0.0.0 exposes the server).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    api_key: str | None = Field(
        None,
        description="When set, every endpoint but /healthz requires 'Authorization: Bearer <key>'.",
    )
    max_body_bytes: int = Field(
        262_144, ge=1024, description="Largest request body accepted; larger bodies get 413."
    )
    max_text_chars: int = Field(
        8000, ge=1, description="Longest text (message, history item, sentiment text) in chars."
    )
    max_batch_texts: int = Field(
        64, ge=1, description="Most texts one POST /v1/sentiment request may carry."
    )
    max_history_messages: int = Field(
        64, ge=0, description="Most history messages one chat request may carry."
    )
    parallel: int = Field(
        default_factory=default_parallel,
        ge=1,
        le=4,
        description="Replies decoded together (one batched step gives each its next token); "
        "more chat requests wait in the queue.",
    )
    max_queue: int = Field(
        8, ge=0, description="Chat requests allowed to wait for a slot; beyond it: 429."
    )
    max_sentiment_concurrency: int = Field(
        4,
        ge=1,
        le=8,
        description="Sentiment requests in the model at once; the ones that arrive while a "
        "step runs are scored together in one pass, ahead of the next chat step.",
    )
    max_sentiment_queue: int = Field(
        32, ge=0, description="Sentiment requests allowed to wait for a slot; beyond it: 429."
    )
    request_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Per-request budget (queue wait + generation); past it: 503 or an SSE "
        "error event, and generation stops.",
    )
    retry_after_s: int = Field(
        2, ge=1, description="Seconds advertised in Retry-After on 429/503 answers."
    )
    max_tokens: int = Field(128, ge=1, description="Default and upper bound of reply tokens.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="uvicorn log level."
    )
    # sessions, mood history and escalation (moodchat.sessions.store, moodchat.sessions.escalation)
    db_path: str | None = Field(
        None,
        description="SQLite file keeping sessions and moods (default: moodchat.db in "
        "MOODCHAT_HOME).",
    )
    database_url: str | None = Field(
        None,
        description="postgresql://user:pass@host:port/db keeps sessions in PostgreSQL, "
        "shared by every replica (needs the postgres extra); unset: SQLite at db_path.",
    )
    escalate_after_negative: int = Field(
        3,
        ge=0,
        description="Escalate a session after this many negative messages in a row (0: never).",
    )
    escalate_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Also escalate on one negative message with at least "
        "this confidence (unset: never).",
    )
    webhook_url: str | None = Field(
        None,
        description="POST a JSON summary here when a session escalates (in the "
        "background, with retries).",
    )
    webhook_max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="Delivery attempts per webhook summary (exponential backoff between them).",
    )

    # scale-out on Ray Serve (moodchat.scale.serve; needs the ray extra)
    ray: bool = Field(
        False,
        description="Serve with model replicas on Ray Serve (needs the ray extra) instead of "
        "one process; each replica takes --threads threads and CPUs (default 1 there).",
    )
    ray_address: str | None = Field(
        None,
        description="With --ray: the cluster to join ('auto': the running one, or host:port); "
        "unset: start a local one.",
    )
    replicas: int = Field(
        1, ge=1, description="With --ray: model replicas, each with its own model and threads."
    )
    max_replicas: int | None = Field(
        None,
        ge=1,
        description="With --ray: autoscale between --replicas and this many replicas "
        "(unset: a fixed --replicas).",
    )

    def options(self):
        """The model settings as ``ModelOptions``, sized for ``parallel`` replies."""
        return dataclasses.replace(super().options(), parallel=self.parallel)


def settings_table() -> str:
    """A Markdown table of every setting: flag, env var, default, description."""
    rows = ["| flag | env var | default | description |", "| --- | --- | --- | --- |"]
    for name, field in ServerSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = default_text(field) and f"`{default_text(field)}`"
        rows.append(f"| `{flag}` | `MOODCHAT_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows)


# The HTTP parser and event loop uvicorn runs the app with. Fixed rather than "auto": with
# uvloop and httptools installed (Ray Serve's extra pulls them in), uvicorn switches to them
# and the app no longer saw a client's disconnect mid-stream here (the disconnect tests
# failed), so generation went on for nobody. h11 on asyncio is what those tests measure.
UVICORN_IO = {"http": "h11", "loop": "asyncio"}
