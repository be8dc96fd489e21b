"""Pick the turns the preference pairs are written for, as slices for the writers.

Reads the personal corpus's *training* split (never the held-out one), leaves out the
safety situations (self-harm, hopelessness: the safety rule answers those, they are not
reply targets), and picks, stratified by situation and language and by a hash of the row
id (never by file order), up to ``--per-stratum`` user turns that have a written reply.
Each picked turn becomes one line of ``data/preference/slices/<lang>-<part>.jsonl``:

    {"pair_id", "conv_id", "turn", "lang", "situation", "label", "hard",
     "context": [messages before the turn], "user": the turn, "chosen": its written reply}

The writers add the *rejected* reply (data/preference/WRITING.md). Usage:

    python scripts/preference_slices.py --per-stratum 4 --parts 2
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from moodchat.training import corpus

NOT_TARGETS = frozenset({"self_harm", "hopelessness"})


def candidate_turns(row: dict) -> list[dict]:
    """Every user turn of ``row`` followed by a written reply, as a pair record."""
    out, msgs = [], row["messages"]
    for i, m in enumerate(msgs[:-1]):
        if m["role"] != "user" or msgs[i + 1]["role"] != "assistant":
            continue
        out.append(
            {
                "pair_id": f"{row['id']}-t{i}",
                "conv_id": row["id"],
                "turn": i,
                "lang": corpus.text_language(m["content"]) or row["lang"],
                "situation": row["situation"],
                "label": m["label"],
                "hard": m.get("hard"),
                "context": [{"role": x["role"], "content": x["content"]} for x in msgs[:i]],
                "user": m["content"],
                "chosen": msgs[i + 1]["content"],
            }
        )
    return out


def pick(rows: list[dict], per_stratum: int) -> list[dict]:
    """Up to ``per_stratum`` turns per (situation, language), one per conversation."""
    strata: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: corpus.hash_rank(r["id"])):
        if row["situation"] in NOT_TARGETS:
            continue
        turns = candidate_turns(row)
        if turns:
            turn = turns[int(corpus.hash_rank(row["id"] + "/turn"), 16) % len(turns)]
            strata[(row["situation"], turn["lang"])].append(turn)
    return [t for key in sorted(strata) for t in strata[key][:per_stratum]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-stratum", type=int, default=4)
    parser.add_argument("--parts", type=int, default=2, help="slices per language")
    parser.add_argument("--out", type=Path, default=Path("data/preference/slices"))
    args = parser.parse_args()
    directory = corpus.corpus_dir()
    train, _ = corpus.split(corpus.load_corpus(directory), directory)
    picked = pick(train, args.per_stratum)
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in ("zh", "en"):
        mine = [t for t in picked if t["lang"] == lang]
        for part in range(args.parts):
            path = args.out / f"{lang}-{part + 1}.jsonl"
            chunk = mine[part :: args.parts]
            path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in chunk))
            print(f"{path}: {len(chunk)} turns")


if __name__ == "__main__":
    main()
