"""moodchat: one small local language model, two roles.

The same model first reads the emotion of a message (``positive`` / ``negative`` with a
confidence), then answers it as a warm, empathetic assistant. The public API is
``Assistant`` with its ``ModelOptions`` / ``RoleOptions`` (see ``moodchat.assistant``) and
the event and result types it returns.
"""

from moodchat.assistant import Assistant, ModelOptions, RoleOptions
from moodchat.errors import (
    AdapterError,
    InputError,
    ModelLoadError,
    ModelNotFoundError,
    MoodchatError,
)
from moodchat.types import DoneEvent, Sentiment, SentimentEvent, TokenEvent

__all__ = [
    "AdapterError",
    "Assistant",
    "ModelOptions",
    "RoleOptions",
    "DoneEvent",
    "InputError",
    "ModelLoadError",
    "ModelNotFoundError",
    "MoodchatError",
    "Sentiment",
    "SentimentEvent",
    "TokenEvent",
]
__version__ = "0.1.0"
