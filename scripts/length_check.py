"""Are long texts out of distribution for the sentiment adapter? Accuracy by length and cut.

The adapter is trained on texts cut to 64 tokens (head and tail); serving reads up to 256.
This scores labelled CSVs (default: the two dev sets) through the public API on llama.cpp
twice, with ``sentiment_max_input_tokens`` 256 (as served) and 64 (as trained), and prints
accuracy per length bucket (tokens of the text alone). If long texts read at 256 score
below the same texts cut to 64, length is out of distribution; if not, it is not the cause.

Usage: python scripts/length_check.py [FILE.csv ...] [--sentiment-adapter auto|none|PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moodchat import Assistant, ModelOptions, RoleOptions
from moodchat.training.data import read_labelled

BUCKETS = ((0, 32), (32, 64), (64, 128), (128, 10_000))
DEV = ("../shared/data/dev_waimai_1000.csv", "../shared/data/dev_sst2_train_1000.csv")


def scored(adapter: str, limit: int, texts: list[str]) -> list[str]:
    """Labels of ``texts`` read with at most ``limit`` text tokens."""
    roles = RoleOptions(
        sentiment_adapter=adapter, chat_adapter="none", sentiment_max_input_tokens=limit
    )
    with Assistant.load(ModelOptions(roles=roles)) as bot:
        out = []
        for lo in range(0, len(texts), 16):
            out += [s.label for s in bot.analyze_many(texts[lo : lo + 16])]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=list(DEV))
    parser.add_argument("--sentiment-adapter", default="auto")
    args = parser.parse_args()
    rows = [r for f in args.files for r in read_labelled(Path(f))]
    texts = [r.text for r in rows]
    with Assistant.load(ModelOptions(roles=RoleOptions(chat_adapter="none"))) as bot:
        lengths = [len(bot.engine.tokenize(t)) for t in texts]
    by_limit = {limit: scored(args.sentiment_adapter, limit, texts) for limit in (256, 64)}
    print("| text tokens | rows | accuracy, read up to 256 | accuracy, cut to 64 |")
    print("|---|---|---|---|")
    for lo, hi in BUCKETS:
        idx = [i for i, n in enumerate(lengths) if lo <= n < hi]
        if not idx:
            continue
        acc = {
            k: sum(labels[i] == rows[i].label for i in idx) / len(idx)
            for k, labels in by_limit.items()
        }
        span = f"{lo}-{hi - 1}" if hi < 10_000 else f"{lo}+"
        print(f"| {span} | {len(idx)} | {acc[256]:.1%} | {acc[64]:.1%} |")


if __name__ == "__main__":
    main()
