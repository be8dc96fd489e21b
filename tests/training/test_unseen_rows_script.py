"""scripts/unseen_rows_bias.py: the rows it scores are never rows the recipe trains on."""

import random
from pathlib import Path

from moodchat.training.sentiment import SentimentTrainConfig, training_rows
from script_loader import load_script


def _write(path: Path, n: int) -> None:
    lines = ["text,label"] + [f"{path.stem} review {i},{i % 2}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_unseen_rows_avoid_the_training_sample_and_are_balanced(tmp_path):
    for name, n in (("zh_a.csv", 60), ("en_b.csv", 40)):
        _write(tmp_path / name, n)
    # one file per language: 20 // 2 = 10 rows per label per file are trained on
    config = SentimentTrainConfig(
        model="", data_dir=str(tmp_path), out="", per_language=20, rows_per_label={}
    )
    rows = load_script("unseen_rows_bias").unseen_rows(config, per_label=100, seed=1)
    trained, _ = training_rows(config, random.Random(config.seed))
    assert not {(r.source, r.text) for r in rows} & {(r.source, r.text) for r in trained}
    counts = {(r.source, r.label): 0 for r in rows}
    for r in rows:
        counts[(r.source, r.label)] += 1
    # every unseen row of each file and label: 30 - 10 and 20 - 10
    assert counts == {
        ("zh_a.csv", "positive"): 20, ("zh_a.csv", "negative"): 20,
        ("en_b.csv", "positive"): 10, ("en_b.csv", "negative"): 10,
    }  # fmt: skip
