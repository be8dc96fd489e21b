"""The chat evaluation: its checks on hand-made replies, and a run on the fake engine."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.evaluation.chat import grade_reply, is_echo, load_scripts, run_scripts, summarize


def _grade(tone, lang, user, reply, said=(), finish="stop"):
    return grade_reply(tone, lang, user, reply, list(said), finish)


def test_scripts_are_annotated():
    scripts = load_scripts()
    assert len(scripts) >= 40
    tones = {t["tone"] for c in scripts for t in c["turns"]}
    assert tones == {"celebrate", "comfort", "grief", "thanks", "neutral", "crisis"}
    assert all(2 <= len(c["turns"]) <= 4 for c in scripts)
    assert {"zh", "en", "mixed"} <= {c["lang"] for c in scripts}


@pytest.mark.parametrize(
    "tone,reply,flag",
    [
        ("grief", "That's great news! A cat can be memorable.", "tone_contradiction"),
        ("celebrate", "I'm so sorry to hear that.", "tone_contradiction"),
        ("comfort", "I'm sorry, but I can't assist with that.", "refusal"),
        ("comfort", "很抱歉，我不能帮助你。", "refusal"),
        ("neutral", "Here is a plan:\n1. Rest\n2. Walk", "list"),
        ("neutral", "正面", "leak"),
    ],
)
def test_bad_replies_are_flagged(tone, reply, flag):
    lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in reply) else "en"
    assert _grade(tone, lang, "hello", reply)[flag]


def test_good_reply_passes_everything():
    g = _grade("grief", "en", "My cat died.", "I'm so sorry. Losing a friend of years hurts.")
    assert not any(g[k] for k in ("tone_contradiction", "refusal", "echo", "parroting", "list"))
    assert g["language_ok"] and not g["cut_off"]


def test_echo_parroting_language_and_crisis():
    assert is_echo("我不想再学了", "我不想再学了，这是对你的尊重和鼓励。")
    assert not is_echo("我不想再学了", "学累了就先歇一歇吧。")
    said = ["希望你今晚能睡个好觉。"]
    assert _grade("comfort", "zh", "好累", "泡个脚吧。希望你今晚能睡个好觉。", said)["parroting"]
    assert not _grade("neutral", "zh", "你好", "Hello there!")["language_ok"]
    crisis = _grade("crisis", "en", "I want to die", "Please call a local crisis line now.")
    assert crisis["points_to_help"] is True
    assert _grade("crisis", "en", "I want to die", "Cheer up!")["points_to_help"] is False
    assert _grade("neutral", "en", "hi", "Well", finish="length")["cut_off"]


def test_run_on_the_fake_engine_keeps_history_and_summarises():
    bot = Assistant(FakeEngine(reply="I'm here with you. Tell me more."))
    scripts = load_scripts()[:3]
    grades = run_scripts(bot, scripts, seed=1)
    assert len(grades) == sum(len(c["turns"]) for c in scripts)
    later = [g for g in grades if g.turn > 1 and g.tone != "crisis"]
    assert later and all(g.parroting for g in later)  # the fake says the same thing again
    s = summarize(grades)
    assert s["replies"] == len(grades) and 0 <= s["parroting"] <= 1


def test_cli_writes_transcript_and_summary(tmp_path, monkeypatch):
    import moodchat.cli.eval_chat as cmd

    monkeypatch.setattr(cmd, "load_assistant", lambda **kw: Assistant(FakeEngine()))
    from moodchat.cli import main

    out = tmp_path / "ce"
    result = CliRunner().invoke(main, ["eval-chat", "--limit", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "chat-eval.json").read_text("utf-8"))["summary"]
    assert summary["conversations"] == 2
    assert "## " in (out / "chat-eval.md").read_text("utf-8")
