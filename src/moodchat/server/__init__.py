"""moodchat's HTTP service (``moodchat serve``): native API, OpenAI compatibility, metrics.

Contract: ``create_app(settings, assistant=None, sessions=None)`` builds the FastAPI app
(``moodchat.server.app``); ``ServerSettings`` (``moodchat.server.settings``) is the one
source of its configuration. See docs/server.md.
"""

from moodchat.server.app import create_app
from moodchat.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
