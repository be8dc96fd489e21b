"""The ``moodchat`` command line: thin commands that parse, call the API, and print.

Contract: each command lives in a module of this package and registers itself on ``main``
when imported below. Commands catch ``MoodchatError`` and exit with status 2 and a one-line
message (no traceback); nothing is parsed at import time.
"""

from __future__ import annotations

from moodchat.cli import (  # noqa: F401  (each registers its commands)
    bench,
    core,
    eval_chat,
    evaluate,
    history,
    serve,
    train,
)
from moodchat.cli.base import main

__all__ = ["main"]
