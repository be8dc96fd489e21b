"""Training data for the sentiment adapter: sampling, attacks, provenance (no model)."""

from __future__ import annotations

import dataclasses
import random

from moodchat.training.base import RUN_ONLY
from moodchat.training.data import (
    LabelledText,
    attack,
    balanced_sample,
    label_counts,
    read_labelled,
    split_holdout,
    with_attacks,
)
from moodchat.training.sentiment import SentimentTrainConfig, everyday_path
from moodchat.weights.adapters import shipped_adapter


def _rows(n_pos, n_neg, source):
    return [LabelledText(f"{source} good {i}", "positive", source) for i in range(n_pos)] + [
        LabelledText(f"{source} bad {i}", "negative", source) for i in range(n_neg)
    ]


def test_read_labelled_skips_bad_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('text,label\nfine,1\n"bad, really",0\n,1\nodd,7\nok,positive\n', "utf-8")
    rows = read_labelled(path)
    assert [(r.text, r.label) for r in rows] == [
        ("fine", "positive"),
        ("bad, really", "negative"),
        ("ok", "positive"),
    ]
    assert {r.source for r in rows} == {"x.csv"}


def test_balanced_sample_is_balanced_and_seeded():
    groups = {"a.csv": _rows(50, 5, "a.csv"), "b.csv": _rows(30, 30, "b.csv")}
    first = balanced_sample(groups, 10, random.Random(1))
    again = balanced_sample(groups, 10, random.Random(1))
    assert first == again
    counts = label_counts(first)
    assert counts == {
        "a.csv/negative": 5,  # a short cell gives all it has
        "a.csv/positive": 10,
        "b.csv/negative": 10,
        "b.csv/positive": 10,
    }


def test_balanced_sample_takes_a_count_per_group():
    groups = {"a.csv": _rows(50, 50, "a.csv"), "b.csv": _rows(30, 30, "b.csv")}
    counts = label_counts(balanced_sample(groups, {"a.csv": 20, "b.csv": 3}, random.Random(1)))
    assert counts == {
        "a.csv/negative": 20,
        "a.csv/positive": 20,
        "b.csv/negative": 3,
        "b.csv/positive": 3,
    }


def test_attacks_keep_the_true_label_and_ask_for_the_other():
    rng = random.Random(0)
    for row in _rows(20, 20, "s"):
        hit = attack(row, rng)
        assert hit.label == row.label and hit.attacked and row.text in hit.text
        other = "正面" if row.label == "negative" else "负面"
        other_en = "positive" if row.label == "negative" else "negative"
        extra = hit.text.replace(row.text, "")
        assert other in extra or other_en in extra.lower() or "好评" in extra or "差评" in extra


def test_with_attacks_adds_copies_and_holdout_splits():
    rows = _rows(50, 50, "s")
    mixed = with_attacks(rows, 0.2, random.Random(3))
    assert len(mixed) == 120 and sum(r.attacked for r in mixed) == 20
    train, held = split_holdout(rows, 10, random.Random(3))
    assert len(held) == 10 and len(train) == 90 and not set(held) & set(train)


def test_holdout_takes_every_copy_of_a_repeated_row_out_of_training():
    rows = _rows(20, 20, "s") * 2
    train, held = split_holdout(rows, 10, random.Random(5))
    texts = [r.text for r in held]
    assert len(held) == 10 and len(set(texts)) == 10
    assert not set(texts) & {r.text for r in train}
    assert len(train) == 80 - 2 * 10


def test_everyday_data_is_balanced_and_marked():
    rows = read_labelled(everyday_path())
    assert len(rows) == 800
    assert label_counts(rows) == {
        "everyday_sentiment.csv/negative": 400,
        "everyday_sentiment.csv/positive": 400,
    }
    assert len({r.text for r in rows}) == 800


def test_the_default_recipe_is_the_one_the_shipped_adapter_was_trained_with():
    """`moodchat train-sentiment` with no options rebuilds the shipped adapter."""
    recorded = shipped_adapter("sentiment").provenance["config"]
    defaults = dataclasses.asdict(SentimentTrainConfig(model="m", data_dir="d", out="o"))
    local = {*RUN_ONLY, "model", "data_dir", "dev"}  # run-only settings and local paths
    recipe = {k: v for k, v in defaults.items() if k not in local}
    # Settings added after the shipped adapter was trained: their defaults are the values
    # that reproduce how it was trained (no personal corpus).
    added_later = {"corpus": None, "corpus_repeat": 1, "init_adapter": None}
    assert recipe == {k: recorded.get(k, added_later.get(k)) for k in recipe}
