"""``moodchat history``: table, JSON and PNG chart of a session's mood timeline."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from moodchat.cli import main
from moodchat.sessions.escalation import EscalationRule
from moodchat.sessions.store import SqliteSessionStore
from moodchat.types import Sentiment


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.db"
    with SqliteSessionStore(path, rule=EscalationRule(after_negative=2)) as s:
        s.record_user("diary-1", "Great walk in the park this morning", Sentiment("positive", 0.93))
        s.record_reply("diary-1", "That sounds lovely!")
        s.record_user("diary-1", "Then my bus was late", Sentiment("negative", 0.71))
        s.record_reply("diary-1", "Oh no.")
        s.record_user("diary-1", "and I missed the meeting", Sentiment("negative", 0.88))
    return path


def test_table_shows_every_mood_and_the_escalation(db):
    out = CliRunner().invoke(main, ["history", "diary-1", "--db", str(db)])
    assert out.exit_code == 0, out.output
    for text in ("Great walk", "positive", "0.93", "bus was late", "negative", "0.88"):
        assert text in out.output
    assert "escalated" in out.output and "2 negative messages in a row" in out.output


def test_json_is_the_mood_timeline(db):
    out = CliRunner().invoke(main, ["history", "diary-1", "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    points = json.loads(out.output)
    assert [(p["label"], p["confidence"]) for p in points] == [
        ("positive", 0.93),
        ("negative", 0.71),
        ("negative", 0.88),
    ]
    assert set(points[0]) == {"time", "label", "confidence", "text"}


def test_png_chart_is_written(db, tmp_path):
    png = tmp_path / "charts" / "mood.png"
    out = CliRunner().invoke(main, ["history", "diary-1", "--db", str(db), "--png", str(png)])
    assert out.exit_code == 0, out.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_env_var_picks_the_database(db, monkeypatch):
    monkeypatch.setenv("MOODCHAT_DB_PATH", str(db))
    out = CliRunner().invoke(main, ["history", "diary-1", "--json"])
    assert out.exit_code == 0 and len(json.loads(out.output)) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "no session 'nope'"),
        (["bad id!"], "session_id must be"),
    ],
)
def test_user_errors_exit_2(db, args, message):
    out = CliRunner().invoke(main, ["history", *args, "--db", str(db)])
    assert out.exit_code == 2 and message in out.output


def test_missing_database_is_not_created(tmp_path):
    path = tmp_path / "absent.db"
    out = CliRunner().invoke(main, ["history", "x", "--db", str(path)])
    assert out.exit_code == 2 and "no session database" in out.output
    assert not path.exists()
