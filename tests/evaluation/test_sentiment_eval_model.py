"""``moodchat eval`` and ``moodchat bench`` end to end, and an accuracy floor, on the real model.

Kept cheap: 40 rows per dev set through the CLI, one short bench without baselines, and
100 fixed rows (every 10th) per dev set for the accuracy regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from moodchat.evaluation.sentiment import accuracy, load_dataset

pytestmark = pytest.mark.model

DEV_SETS = ("dev_waimai_1000.csv", "dev_sst2_train_1000.csv")


def _moodchat(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moodchat", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_eval_cli_writes_reports_for_both_dev_sets(dev_data, tmp_path):
    files = [str(dev_data / name) for name in DEV_SETS]
    out = tmp_path / "eval"
    proc = _moodchat("eval", *files, "--limit", "40", "--prompt", "default", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| prompt |" in proc.stdout
    for name in ("eval.md", "eval.json", "reliability.png"):
        assert (out / name).stat().st_size > 0
    record = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    (prompt,) = record["prompts"]
    assert [d["n"] for d in prompt["datasets"]] == [40, 40]
    for d in prompt["datasets"]:
        assert d["accuracy"] >= CLI_ACCURACY_FLOOR, d
        assert 0 <= d["ece"] <= 1 and d["latency_ms"]["mean"] > 0


def test_bench_without_baselines_reports_positive_numbers(tmp_path):
    proc = _moodchat(
        "bench", "--no-baseline", "--json", "--runs", "3", "--long-runs", "2",
        "--chat-runs", "1", "--batch-texts", "8", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    m = result["stacks"]["moodchat"]
    assert "error" not in m, m
    for phase in ("start", "after_tokenizer", "after_load", "peak_sentiment", "peak_chat"):
        assert m["memory_mib"][phase] > 0
    for key in ("sentiment_short_ms", "sentiment_long_ms", "chat_ttft_ms", "chat_reply_128_ms"):
        assert m[key]["p50"] > 0 and m[key]["p99"] >= m[key]["p50"]
    for key in ("batch_texts_per_s", "chat_tokens_per_s", "cold_start_s", "load_s"):
        assert m[key] > 0
    assert 0 < m["chat_reply_128_tokens"]["max"] <= 128  # measured, capped at 128 tokens
    assert m["chat_reply_128_ms_per_token"]["p50"] > 0
    assert (tmp_path / "bench.json").exists() and (tmp_path / "bench.md").exists()


# Measured with the default (v4-fewshot) on these exact rows: waimai 0.78, SST-2 0.75; on 40
# rows 0.85 and 0.775 (full 1000-row sets: 82.6% and 81.9%, see docs/evaluation.md). The
# floors sit below, to catch regressions, not to restate the (unmet) 92% / 90% targets.
ACCURACY_FLOOR = 0.70
CLI_ACCURACY_FLOOR = 0.70


@pytest.mark.parametrize("name", DEV_SETS)
def test_default_prompt_accuracy_floor(assistant, dev_data, name):
    data = load_dataset(dev_data / name, limit=100)  # every 10th row
    pred = [s.label for s in assistant.analyze_many(list(data.texts))]
    assert accuracy(data.gold, pred) >= ACCURACY_FLOOR
