"""The sentiment analyst on the personal corpus's held-out split (data/personal/), as served.

Plays every user turn of the held-out conversations (``moodchat.training.corpus.split``;
no training reads them) through the public API on llama.cpp, each read after its previous
user turn like ``respond()`` does (``--no-context``: alone, like ``analyze()``), and prints
three-way accuracy, macro-F1, ECE, binary accuracy on the non-neutral turns, the turns read
as the opposite mood, and the same per hard-case kind. ``--json FILE`` keeps the figures.

Usage:
    python scripts/eval_personal.py [--sentiment-adapter auto|none|PATH] [--labels three|binary]
                                    [--no-context] [--split heldout|train|all] [--json FILE]
                                    [--context-tokens N]

``--context-tokens N`` reads at most N tokens of the previous turn instead of the role's
``CONTEXT_TOKENS`` (a measurement of shorter contexts; serving is unchanged).
"""

from __future__ import annotations

import argparse
import json
import time

from moodchat import Assistant, ModelOptions, RoleOptions
from moodchat.evaluation.personal import personal_metrics, score_turns
from moodchat.roles import sentiment as sentiment_role
from moodchat.training import corpus
from moodchat.training.data import corpus_turns


def _rows(split: str) -> list[dict]:
    rows = corpus.load_corpus()
    if split == "all":
        return rows
    train, heldout = corpus.split(rows, corpus.corpus_dir())
    return heldout if split == "heldout" else train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentiment-adapter", default="auto")
    parser.add_argument("--sentiment-prompt", default=None)
    parser.add_argument("--labels", choices=["three", "binary"], default="three")
    parser.add_argument("--no-context", action="store_true")
    parser.add_argument("--split", choices=["heldout", "train", "all"], default="heldout")
    parser.add_argument("--json", default=None)
    parser.add_argument("--context-tokens", type=int, default=None)
    args = parser.parse_args()
    if args.context_tokens:
        sentiment_role.CONTEXT_TOKENS = args.context_tokens
    turns = corpus_turns(_rows(args.split))
    roles = RoleOptions(
        sentiment_adapter=args.sentiment_adapter,
        sentiment_prompt=args.sentiment_prompt,
        chat_adapter="none",
        labels=args.labels,
    )
    with Assistant.load(ModelOptions(roles=roles)) as bot:
        texts = [t.text for t in turns]
        contexts = None if args.no_context else [t.context for t in turns]
        start = time.perf_counter()
        results = score_turns(bot.analyze_many, texts, contexts)
        seconds = time.perf_counter() - start
        info = bot.info()
    m = personal_metrics([t.label for t in turns], results, [t.hard for t in turns])
    m["setup"] = {
        "split": args.split,
        "context": not args.no_context,
        "labels": args.labels,
        "sentiment_prompt": info["sentiment_prompt"],
        "sentiment_adapter": (info["sentiment_adapter"] or {}).get("path"),
        "context_tokens": sentiment_role.CONTEXT_TOKENS,
        "seconds": round(seconds, 1),
    }
    print(json.dumps(m, indent=1, ensure_ascii=False))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(m, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
