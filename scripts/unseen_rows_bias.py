"""Accuracy of the shipped sentiment adapter on training-file rows it never saw, per decision bias.

The adapter's recipe (``moodchat.training.sentiment``, seed 0) draws a sample of each file in
``../shared/data/train/``; every row outside that sample is unseen by the adapter and is
not a dev row, so it can be used to ask whether moving the decision threshold (a bias ``b``
added to the positive-vs-negative log-odds) would help, without looking at the dev sets.
Draws ``--per-label`` unseen rows per label per file (seeded), scores them through the
public API on llama.cpp (the shipped adapter, as served) and prints accuracy per file for
each bias. Written for issue 10; ~20 minutes on 2 AVX2 cores for the default 3,000 rows.

Usage: python scripts/unseen_rows_bias.py [--data ../shared/data/train] [--per-label 500]
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from moodchat import Assistant
from moodchat.training.data import LabelledText, balanced_sample, read_labelled
from moodchat.training.sentiment import SentimentTrainConfig, training_rows

BIASES = (-0.4, -0.2, -0.1, 0.0, 0.1, 0.2, 0.4, 0.6)


def unseen_rows(config: SentimentTrainConfig, per_label: int, seed: int) -> list[LabelledText]:
    """Rows of each file in ``config.data_dir`` and label that its recipe's sample lacks."""
    used, _ = training_rows(config, random.Random(config.seed))
    seen = {(r.source, r.text) for r in used}
    groups = {
        path.name: [r for r in read_labelled(path) if (r.source, r.text) not in seen]
        for path in sorted(Path(config.data_dir).glob("*.csv"))
    }
    return balanced_sample(groups, per_label, random.Random(seed))


def log_odds(p_positive: float) -> float:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    p = min(max(p_positive, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def print_table(rows: list[LabelledText], scores: list[float]) -> None:
    """Accuracy per source file (and all together) for each bias."""
    sources = sorted({r.source for r in rows})
    print("bias  " + "  ".join(f"{s:>16}" for s in [*sources, "all"]))
    for bias in BIASES:
        cells = []
        for source in [*sources, "all"]:
            pairs = [(r, z) for r, z in zip(rows, scores) if source in ("all", r.source)]
            right = sum((z + bias > 0) == (r.label == "positive") for r, z in pairs)
            cells.append(f"{100 * right / len(pairs):15.1f}%")
        print(f"{bias:+.1f}  " + "  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/train")
    parser.add_argument("--per-label", type=int, default=500)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    recipe = SentimentTrainConfig(model="", data_dir=args.data, out="")  # the shipped one
    rows = unseen_rows(recipe, args.per_label, args.seed)
    with Assistant.load() as bot:
        adapter = (bot.info()["sentiment_adapter"] or {}).get("sha256", "none")
        results = [s for i in range(0, len(rows), 32)
                   for s in bot.analyze_many([r.text for r in rows[i:i + 32]])]  # fmt: skip
    print(f"{len(rows)} unseen rows; sentiment adapter sha256 {adapter}")
    print_table(rows, [log_odds(s.probabilities["positive"]) for s in results])


if __name__ == "__main__":
    main()
