"""The two roles one model plays: ``SentimentRole`` (analyst) and ``ChatRole`` (assistant).

Roles depend on the engine interface, the chat template and the prompt data; they know
nothing of HTTP, the CLI or storage.
"""

from moodchat.roles.chat import ChatRole, ReplyStats, Utf8Stream
from moodchat.roles.sentiment import SentimentRole

__all__ = ["ChatRole", "ReplyStats", "SentimentRole", "Utf8Stream"]
