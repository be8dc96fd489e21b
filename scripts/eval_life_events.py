"""The analyst on clear-cut life events (data/life-events/, measurement only), as served.

Reads every message of ``data/life-events/*.jsonl`` alone (like ``analyze()``) through the
public API on llama.cpp and prints, over all messages and per event, three-way accuracy,
macro-F1, ECE, binary accuracy on the non-neutral ones and the messages read as the
opposite mood, and first of all **how many bad-news messages (deaths, illness, losses) are
read positive**. No training reads this folder. ``--json FILE`` keeps the figures.

Usage:
    python scripts/eval_life_events.py [--sentiment-adapter auto|none|PATH] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from moodchat import Assistant, ModelOptions, RoleOptions
from moodchat.evaluation.personal import personal_metrics, score_turns
from moodchat.training import corpus

DATA = Path(__file__).resolve().parents[1] / "data" / "life-events"
BAD = [
    "death_grandparent",
    "death_parent",
    "death_child_or_partner",
    "death_friend_or_colleague",
    "death_pet",
    "pet_put_down",
    "diagnosis",
    "illness_of_someone",
    "injury_or_accident",
    "miscarriage",
    "job_loss",
    "breakup_or_divorce",
    "money_loss",
    "home_loss",
    "exam_or_admission_failed",
]
GOOD = [
    "birth",
    "admission",
    "job_offer",
    "promotion",
    "recovery",
    "engagement_or_wedding",
    "pregnancy",
    "exam_passed",
    "debt_paid_off",
    "new_home",
    "reunion",
]
# Each event's label, as data/life-events/WRITING.md gives them to the writers.
EVENT_LABEL = {**dict.fromkeys(BAD, "negative"), **dict.fromkeys(GOOD, "positive"),
               "logistics": "neutral"}  # fmt: skip


def load_messages(directory: Path = DATA) -> list[dict]:
    """Every message row of ``directory/*.jsonl``, in file and line order (a line that is
    not JSON becomes ``{"_error": ...}``, as in the corpus)."""
    return corpus.read_rows(sorted(directory.glob("*.jsonl")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentiment-adapter", default="auto")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = load_messages()
    roles = RoleOptions(sentiment_adapter=args.sentiment_adapter, chat_adapter="none")
    with Assistant.load(ModelOptions(roles=roles)) as bot:
        results = score_turns(bot.analyze_many, [r["text"] for r in rows], None)
        adapter = (bot.info()["sentiment_adapter"] or {}).get("path")
    gold = [r["label"] for r in rows]
    m = personal_metrics(gold, results, [r["event"] for r in rows])
    bad_read_positive = [
        r for r, s in zip(rows, results) if r["label"] == "negative" and s.label == "positive"
    ]
    m["bad_news_read_positive"] = {
        "n": len(bad_read_positive),
        "of": gold.count("negative"),
        "messages": [{"id": r["id"], "text": r["text"]} for r in bad_read_positive],
    }
    m["setup"] = {"sentiment_adapter": adapter, "messages": len(rows)}
    print(json.dumps(m, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(m, indent=1, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
