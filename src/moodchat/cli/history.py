"""``moodchat history SESSION``: a session's mood timeline from the session database.

Contract: reads the database (``--db``, else ``$MOODCHAT_DB_PATH``, else the default
``moodchat_home()/moodchat.db``; never creates one) and prints the mood of every user
message, oldest first, as a table (time, mood, confidence, text) with the escalation
state, or as JSON (``--json``: the list of ``{time, label, confidence, text}`` that
``GET /v1/sessions/{id}/mood`` returns, ``time`` in Unix seconds). ``--png FILE`` also
saves a chart: signed mood (+confidence when positive, -confidence when negative, 0 when
neutral) over time. A missing database or session is a user error (exit status 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from moodchat.cli.base import main, user_errors
from moodchat.cli.chat_loop import MOOD_STYLE
from moodchat.sessions.protocol import MoodPoint


@main.command()
@click.argument("session")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MOODCHAT_DB_PATH",
    default=None,
    help="Session database (default: moodchat.db in MOODCHAT_HOME).",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also save the timeline as a PNG chart here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@user_errors
def history(session: str, db_path: Path | None, png: Path | None, as_json: bool) -> None:
    """Print the mood timeline of SESSION (and optionally chart it)."""
    from moodchat.sessions.protocol import check_session_id
    from moodchat.sessions.store import SqliteSessionStore, StoreError, default_db_path

    check_session_id(session)
    db_path = db_path or default_db_path()
    if not db_path.is_file():
        raise StoreError(f"no session database at {db_path} (use --db or MOODCHAT_DB_PATH)")
    with SqliteSessionStore(db_path) as store:
        info = store.info(session)
        points = store.mood(session)
    if info is None:
        raise StoreError(f"no session {session!r} in {db_path}")
    if as_json:
        click.echo(json.dumps([asdict(p) for p in points], ensure_ascii=False, indent=2))
    else:
        print_timeline(session, info, points)
    if png is not None:
        save_chart(session, points, png)
        click.echo(f"chart saved to {png}", err=True)


def print_timeline(session: str, info: dict, points: list[MoodPoint]) -> None:
    """A rich table of the timeline, with the escalation state underneath."""
    console = Console(highlight=False)
    table = Table("#", "time", "mood", "confidence", "text", title=f"session {session}")
    for i, p in enumerate(points, 1):
        style = MOOD_STYLE.get(p.label, "")
        when = datetime.fromtimestamp(p.time).strftime("%Y-%m-%d %H:%M:%S")
        text = p.text if len(p.text) <= 70 else p.text[:69] + "…"
        table.add_row(str(i), when, f"[{style}]{p.label}[/{style}]", f"{p.confidence:.2f}", text)
    console.print(table)
    if info.get("escalated"):
        console.print(f"[bold red]escalated:[/bold red] {info.get('escalation_reason')}")
    else:
        console.print(f"[dim]not escalated; negative streak {info.get('negative_streak', 0)}[/dim]")


def save_chart(session: str, points: list[MoodPoint], path: Path) -> None:
    """Save the signed-mood timeline of ``points`` as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [datetime.fromtimestamp(p.time) for p in points]
    sign = {"positive": 1, "negative": -1, "neutral": 0}
    values = [sign.get(p.label, 0) * p.confidence for p in points]
    colors = [
        {"positive": "#2e7d32", "negative": "#c62828"}.get(p.label, "#607d8b") for p in points
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=120)
    try:
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.plot(times, values, color="#607d8b", linewidth=1.2, zorder=1)
        ax.scatter(times, values, c=colors, s=36, zorder=2)
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks([-1, 0, 1], ["negative", "neutral", "positive"])
        ax.set_title(f"moodchat: mood of session {session}")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        fig.autofmt_xdate()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
