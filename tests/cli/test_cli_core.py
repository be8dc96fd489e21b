"""The CLI through its real entry point (``python -m moodchat``) on the real model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.model


def run(*args: str, stdin: str | None = None, env: dict | None = None, check_rc: int | None = 0):
    proc = subprocess.run(
        [sys.executable, "-m", "moodchat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_analyze_arguments_to_jsonl(default_model):
    proc = run("analyze", "今天终于拿到offer了！", "this was a waste of my evening")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert all(0.5 <= r["confidence"] <= 1 for r in rows)


def test_analyze_csv_file_keeps_order_and_reports_bad_rows(tmp_path, default_model):
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "label"])
        w.writerows([[1, "送餐很快，味道很棒", 1], [2, "   ", 0], [3, "菜是凉的，很难吃", 0]])
    out = tmp_path / "out.csv"
    proc = run(
        "analyze",
        "--input",
        str(src),
        "--column",
        "review",
        "--label-column",
        "label",
        "--output",
        str(out),
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["row"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["label"] == "positive" and rows[2]["label"] == "negative"
    assert rows[1]["label"] == "" and "empty" in rows[1]["error"]
    assert "row 2" in proc.stderr and "accuracy 100.00% on 2" in proc.stderr


def test_analyze_jsonl_with_a_broken_line(tmp_path, default_model):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "great movie"}\n{not json\n{"text": "bad \xff bytes"}\n')
    proc = run("analyze", "--input", str(src), "--format", "jsonl")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["label"] == "positive"
    assert "invalid JSON" in rows[1]["error"]
    assert "UTF-8" in rows[2]["error"]


def test_chat_shows_mood_before_reply(default_model):
    proc = run("chat", "--max-tokens", "24", stdin="我今天好难过\n/exit\n")
    out = proc.stdout
    assert "mood: negative" in out
    assert out.index("mood:") < out.index("bot>")


def test_info_reports_model_and_memory(default_model):
    facts = json.loads(run("info", "--json").stdout)
    assert facts["backend"] == "llama" and facts["size_bytes"] == 491_400_064
    assert facts["rss_mib"] > 100


def test_missing_and_corrupt_models_exit_cleanly(tmp_path):
    proc = run("analyze", "--model", str(tmp_path / "none.gguf"), "hi", check_rc=2)
    assert "not found" in proc.stderr
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    proc = run("analyze", "--model", str(bad), "hi", check_rc=2)
    assert "corrupt" in proc.stderr


def test_no_pull_without_a_model_says_how(tmp_path):
    proc = run("analyze", "--no-pull", "hi", env={"MOODCHAT_HOME": str(tmp_path)}, check_rc=2)
    assert "moodchat pull" in proc.stderr


def test_pull_verify_hashes_the_stored_model(default_model):
    proc = run("pull", "--verify")
    assert "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" in proc.stdout
