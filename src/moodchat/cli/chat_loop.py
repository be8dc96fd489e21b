"""The interactive terminal chat behind ``moodchat chat``.

Contract: reads a line, prints the mood (label and confidence) as soon as the sentiment
event arrives, then streams the reply; keeps the history for the session; ``/reset``
clears it, ``/exit``, ``/quit`` or end of input leaves; bad input prints an error and the
loop goes on. Works on a terminal or on piped stdin.
"""

from __future__ import annotations

import sys

from rich.console import Console

from moodchat.errors import InputError
from moodchat.types import DoneEvent, Message, SentimentEvent, TokenEvent

MOOD_STYLE = {"positive": "green", "negative": "red", "neutral": "blue"}


def _read(console: Console) -> str | None:
    try:
        if sys.stdin.isatty():
            return console.input("[bold]you>[/bold] ")
        line = sys.stdin.readline()
        return line.rstrip("\n") if line else None
    except (EOFError, KeyboardInterrupt):
        return None


def run_chat(bot, *, max_tokens: int = 128) -> None:
    """Run the read-mood-reply loop until the user leaves."""
    console = Console(highlight=False)
    history: list[Message] = []
    console.print("[dim]moodchat — /reset clears the history, /exit leaves[/dim]")
    while (line := _read(console)) is not None:
        if line.strip() in ("/exit", "/quit"):
            break
        if line.strip() == "/reset":
            history.clear()
            console.print("[dim]history cleared[/dim]")
            continue
        if not line.strip():
            continue
        try:
            reply = _exchange(console, bot, line, history, max_tokens)
        except InputError as err:
            console.print(f"[red]error:[/red] {err}")
            continue
        history += [Message("user", line.strip()), Message("assistant", reply)]


def _exchange(console: Console, bot, line: str, history, max_tokens: int) -> str:
    reply = ""
    for ev in bot.respond(line, history, max_new_tokens=max_tokens):
        if isinstance(ev, SentimentEvent):
            s = ev.sentiment
            style = MOOD_STYLE[s.label]
            console.print(f"[{style}]mood: {s.label} ({s.confidence:.2f})[/{style}]")
            console.print("[bold]bot>[/bold] ", end="")
        elif isinstance(ev, TokenEvent):
            console.print(ev.text, end="", markup=False)
            console.file.flush()
        elif isinstance(ev, DoneEvent):
            console.print()
            reply = ev.reply
    return reply
