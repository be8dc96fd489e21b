"""Exceptions moodchat raises on purpose.

Contract: every failure a user can cause (bad input, missing or corrupt model, failed
download) surfaces as a subclass of ``MoodchatError`` carrying a message that says what
went wrong and what to do. Callers (CLI, server) catch ``MoodchatError`` and print or
serialize ``str(err)``; anything else is a bug.
"""

from __future__ import annotations


class MoodchatError(Exception):
    """Base class for errors meant to be shown to the user."""

    code = "moodchat_error"


class InputError(MoodchatError, ValueError):
    """The text given to a role cannot be used (empty, too long, not UTF-8, ...)."""

    code = "invalid_input"


class ModelNotFoundError(MoodchatError, FileNotFoundError):
    """No model file at the expected place."""

    code = "model_not_found"


class ModelLoadError(MoodchatError):
    """A model file exists but is corrupt, truncated or of the wrong kind."""

    code = "model_load_failed"


class PullError(MoodchatError):
    """Downloading or assembling the default model failed."""

    code = "pull_failed"


class ContextFullError(MoodchatError):
    """The model's context window has no room for this request right now."""

    code = "context_full"


class AdapterError(MoodchatError):
    """A LoRA adapter file is missing, corrupt, fails its sha256 or does not fit the model."""

    code = "adapter_failed"
