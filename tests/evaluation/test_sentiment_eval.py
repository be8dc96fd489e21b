"""Evaluation harness: metrics against hand-computed values, the pipeline on the fake engine."""

from __future__ import annotations

import json

import pytest

from fakes import FakeEngine
from moodchat.evaluation.report import markdown_table, results_from_dict, write_reports
from moodchat.evaluation.sentiment import (
    accuracy,
    confusion,
    evaluate_prompts,
    expected_calibration_error,
    latency_summary,
    load_dataset,
    macro_f1,
    reliability_bins,
)

P, N = "positive", "negative"


def test_confusion_and_accuracy():
    gold = [P, P, P, N, N]
    pred = [P, P, N, N, P]
    assert confusion(gold, pred) == {P: {P: 2, N: 1}, N: {P: 1, N: 1}}
    assert accuracy(gold, pred) == pytest.approx(3 / 5)
    assert accuracy([], []) == 0.0


def test_macro_f1_by_hand():
    # positive: tp 2, fp 1, fn 1 -> F1 = 4/6; negative: tp 1, fp 1, fn 1 -> F1 = 2/4
    gold = [P, P, P, N, N]
    pred = [P, P, N, N, P]
    assert macro_f1(gold, pred) == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert macro_f1([P, P], [P, P]) == pytest.approx(0.5)  # negative never seen: F1 0


def test_ece_by_hand():
    # bin 0.9: accuracy 0.5 vs confidence 0.9; bin 0.6: accuracy 1.0 vs 0.6; each half
    conf = [0.9, 0.9, 0.6, 0.6]
    correct = [True, False, True, True]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) == 0.0


def test_reliability_bins_put_one_in_the_last_bin():
    bins = reliability_bins([1.0, 0.55, 0.59], [True, False, True], n_bins=10)
    assert len(bins) == 10
    assert bins[9].count == 1 and bins[9].accuracy == 1.0
    assert bins[5].count == 2
    assert bins[5].accuracy == pytest.approx(0.5)
    assert bins[5].confidence == pytest.approx(0.57)


def test_latency_summary():
    s = latency_summary([10.0, 20.0, 30.0, 40.0, 50.0])
    assert s["mean"] == 30.0 and s["p50"] == 30.0
    assert 40.0 < s["p90"] <= 50.0


def _csv(tmp_path, rows, name="set.csv"):
    path = tmp_path / name
    lines = ["text,label"] + [f'"{t}",{lab}' for t, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_dataset_skips_unusable_rows_and_subsamples(tmp_path):
    rows = [(f"happy {i}", 1) for i in range(10)] + [("  ", 0), ("no gold", "maybe")]
    data = load_dataset(_csv(tmp_path, rows))
    assert len(data.texts) == 10 and data.skipped == 2
    sub = load_dataset(_csv(tmp_path, rows), limit=5)
    assert sub.texts == ("happy 0", "happy 2", "happy 4", "happy 6", "happy 8")


def test_pipeline_and_reports_on_the_fake_engine(tmp_path):
    # the fake calls a text positive iff it contains "happy": 3 of 4 rows right
    rows = [("so happy today", 1), ("lost my keys", 0), ("happy but broke", 0), ("fine", 0)]
    data = load_dataset(_csv(tmp_path, rows, "fake_set.csv"))
    results = evaluate_prompts(FakeEngine(), [data], ["v4-fewshot", "v1-bare"], batch_size=2)
    assert [r.prompt for r in results] == ["v4-fewshot", "v1-bare"]
    res = results[0].datasets[0]
    assert res.n == 4 and res.accuracy == pytest.approx(0.75)
    assert res.confusion == {P: {P: 1, N: 0}, N: {P: 1, N: 2}}
    assert 0 <= res.ece <= 1 and res.latency_ms["mean"] >= 0
    assert results[0].prefix_tokens > results[1].prefix_tokens  # examples live in the prefix

    paths = write_reports(results, tmp_path / "out", {"rows": 4})
    assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    record = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [p["prompt"] for p in record["prompts"]] == ["v4-fewshot", "v1-bare"]
    assert record["prompts"][0]["datasets"][0]["accuracy"] == pytest.approx(0.75)
    assert "predictions" not in record["prompts"][0]["datasets"][0]
    table = markdown_table(results)
    assert "`v4-fewshot`" in table and "fake_set acc" in table
    assert markdown_table(results_from_dict(record)) == table  # runs can be merged from JSON
