"""The chat adapter's own replies to the preference moments, for a reader to judge.

The preference step's second kind of rejected reply is the current model's own bad one
(issue "Replies that make sense"). ``play`` answers every moment of the given slices of
``data/preference/slices/`` (training split of the personal corpus only) with one version
through llama.cpp, seeded per moment, after the moment's written context, and writes
``data/preference/own/<slice>.replies.jsonl`` (``{"pair_id", "reply", "version", "seed"}``)
and an empty ``<slice>.verdicts.todo.jsonl`` for the reader, who fills one line per moment
``{"pair_id", "verdict": sensible|misread|nonsense|hurtful, "note"}`` into
``<slice>.verdicts.jsonl``. ``moodchat.training.preference.load_own_pairs`` then makes the
replies judged bad into pairs (the corpus's written reply chosen). Usage:

    python scripts/own_replies.py play --slice zh-1 --slice en-1 [--version shipped]
    python scripts/own_replies.py count
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moodchat.evaluation.playback import load_version, reply_to
from moodchat.training import corpus
from moodchat.training.preference import own_summary, preference_dir, read_jsonl
from moodchat.types import Message


def play(args: argparse.Namespace) -> None:
    directory = preference_dir()
    out = directory / "own"
    out.mkdir(exist_ok=True)
    with load_version(args.version) as bot:
        for name in args.slice:
            moments = read_jsonl(directory / "slices" / f"{name}.jsonl")
            rows = []
            for n, m in enumerate(moments):
                seed = int(corpus.hash_rank(m["pair_id"])[:8], 16) % 2**31
                history = [Message(x["role"], x["content"]) for x in m["context"]]
                reply = reply_to(bot, m["user"], history, seed, args.max_tokens)
                rows.append({"pair_id": m["pair_id"], "reply": reply,
                             "version": args.version, "seed": seed})  # fmt: skip
                print(f"\r{name}: {n + 1}/{len(moments)}", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            _write(out / f"{name}.replies.jsonl", rows)
            todo = [{"pair_id": r["pair_id"], "verdict": "", "note": ""} for r in rows]
            _write(out / f"{name}.verdicts.todo.jsonl", todo)


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def count(_: argparse.Namespace) -> None:
    print(json.dumps(own_summary(preference_dir()), indent=1, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("play", help="answer the slices' moments with one version")
    p.add_argument("--slice", action="append", required=True, help="slice name, e.g. zh-1")
    p.add_argument("--version", default="shipped", help="chat adapter file or 'shipped'")
    p.add_argument("--max-tokens", type=int, default=128)
    sub.add_parser("count", help="verdicts per slice and the pairs they make")
    args = parser.parse_args()
    {"play": play, "count": count}[args.command](args)


if __name__ == "__main__":
    main()
