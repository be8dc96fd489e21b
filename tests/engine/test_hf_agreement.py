"""The two backends on the same weights: the default GGUF through llama.cpp and through
transformers (dequantized to float32) agree on the sentiment labels of 100 dev rows
(the first 50 of each dev set). Slow: the transformers load takes about a minute.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.hf

ROWS_PER_SET = 50
DEV_SETS = ("dev_waimai_1000.csv", "dev_sst2_train_1000.csv")


def first_rows(path: Path, n: int) -> list[tuple[str, int]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["text"], int(r["label"])) for _, r in zip(range(n), csv.DictReader(f))]


@pytest.fixture(scope="module")
def rows(dev_data) -> list[tuple[str, int]]:
    return [row for name in DEV_SETS for row in first_rows(dev_data / name, ROWS_PER_SET)]


def test_backends_agree_on_sentiment_labels(assistant, hf_assistant, rows):
    texts = [text for text, _ in rows]
    llama = assistant.analyze_many(texts)
    hf = hf_assistant.analyze_many(texts)
    same = [a.label == b.label for a, b in zip(llama, hf)]
    agreement = float(np.mean(same))
    gold = [("positive" if label == 1 else "negative") for _, label in rows]
    acc = {
        name: float(np.mean([r.label == g for r, g in zip(results, gold)]))
        for name, results in (("llama", llama), ("transformers", hf))
    }
    gap = float(
        np.mean(
            [
                abs(a.probabilities["positive"] - b.probabilities["positive"])
                for a, b in zip(llama, hf)
            ]
        )
    )
    print(
        f"\nbackend agreement {agreement:.1%} on {len(rows)} rows; accuracy llama "
        f"{acc['llama']:.1%}, transformers {acc['transformers']:.1%}; "
        f"mean |p_pos gap| {gap:.3f}"
    )
    assert len(llama) == len(hf) == 2 * ROWS_PER_SET
    assert agreement >= 0.95


def test_transformers_streams_a_reply_from_the_gguf(hf_assistant):
    from moodchat.types import DoneEvent, SentimentEvent, TokenEvent

    events = list(hf_assistant.respond("I finally finished my thesis today!", max_new_tokens=12))
    assert isinstance(events[0], SentimentEvent) and events[0].sentiment.label == "positive"
    assert isinstance(events[-1], DoneEvent) and events[-1].reply
    assert all(isinstance(e, TokenEvent) for e in events[1:-1])
    assert hf_assistant.info()["backend"] == "transformers"
