"""Blind side-by-side judging of two chat adapters (or an adapter and none).

``play`` answers the same moments with both versions, seeded, and writes to ``--out``:
``pairs.jsonl`` (shuffled, unlabelled: what the reader gets), ``key.json`` (which version
is on side 1 of each pair, and what A and B are) and ``verdicts.todo.jsonl`` (one line per
pair for the reader to fill). The moments are:
- ``scripts``: every turn of eval-chat's conversation scripts, each version playing its
  own earlier replies (as a user would meet it); the reader sees the earlier user turns;
- ``heldout``: user turns of the personal corpus's held-out split (no training read
  them; not the self-harm situation, which the safety rule answers), each answered after
  the *written* conversation so far, so both versions see the same history.

``count`` checks a reader's ``verdicts.jsonl`` against the pairs and unblinds it with the
key: per version the verdicts (sensible / misread / nonsense / hurtful), the bad rate and
the preferences, overall and per source; written to ``summary.json``. Usage:

    python scripts/blind_judge.py play --a new-chat.gguf --b shipped --out docs/chat-eval/blind-X
    python scripts/blind_judge.py count docs/chat-eval/blind-X

``--reuse DIR`` takes B's replies from an earlier play in DIR (which played B with the
same seed, token limit and moments; a fixed adapter replays identically) instead of
playing B again, which halves the time.

A version is a chat adapter file, ``shipped`` (the package's adapter) or ``none``.
``--a-temperature T`` / ``--b-temperature T`` play a side at sampling temperature T
instead of the serving default, so one adapter can be judged against itself at another
temperature (and a play from before the default changed can be replayed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moodchat.engine.sampling import SamplingParams
from moodchat.evaluation.blind import make_pairs, unblind, verdict_errors, version_replies
from moodchat.evaluation.chat import load_scripts
from moodchat.evaluation.playback import load_version, reply_to
from moodchat.training import corpus
from moodchat.types import Message

SKIP_SITUATIONS = frozenset({"self_harm"})


def heldout_items(n_conversations: int) -> list[dict]:
    """User turns of the first ``n`` held-out conversations (by a hash of the id)."""
    directory = corpus.corpus_dir()
    _, heldout = corpus.split(corpus.load_corpus(directory), directory)
    rows = sorted(
        (r for r in heldout if r["situation"] not in SKIP_SITUATIONS),
        key=lambda r: corpus.hash_rank(r["id"]),
    )[:n_conversations]
    items = []
    for row in rows:
        msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        for i, m in enumerate(msgs):
            if m["role"] == "user":
                items.append(
                    {"item": f"{row['id']}-t{i}", "source": "heldout", "shown": msgs[:i],
                     "user": m["content"]}
                )  # fmt: skip
    return items


def script_items() -> list[dict]:
    """Every turn of eval-chat's scripts; ``shown`` holds the earlier user turns only."""
    items = []
    for conv in load_scripts():
        users = [t["user"] for t in conv["turns"]]
        for i, text in enumerate(users):
            shown = [{"role": "user", "content": u} for u in users[:i]]
            items.append(
                {"item": f"{conv['id']}-t{i}", "source": "scripts", "shown": shown, "user": text}
            )
    return items


def play_version(
    version: str, items: list[dict], seed: int, max_tokens: int, temperature: float | None = None
) -> list[str]:
    """One version's reply to every item (scripts: its own earlier replies as history)."""
    replies: list[str] = []
    own: dict[str, list[Message]] = {}
    with load_version(version) as bot:
        for n, item in enumerate(items):
            if item["source"] == "scripts":
                conv = item["item"].rsplit("-t", 1)[0]
                history = own.setdefault(conv, [])
                turn = len(history) // 2
            else:
                history = [Message(m["role"], m["content"]) for m in item["shown"]]
                turn = sum(m.role == "user" for m in history)
            reply = reply_to(bot, item["user"], history, seed + turn, max_tokens, temperature)
            if item["source"] == "scripts":
                history += [Message("user", item["user"]), Message("assistant", reply)]
            replies.append(reply)
            print(f"\r{version}: {n + 1}/{len(items)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return replies


def _jsonl(rows) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def played_temperature(key: dict, version: str) -> float:
    """The temperature ``version`` played at in the play of ``key`` (its first side named so).

    A side played at ``--a-temperature`` / ``--b-temperature`` when given, else at that
    play's serving default, which was 0.7 in plays older than the key's record of it.
    """
    for side in ("a", "b"):
        if key.get(side) == version:
            given = key.get(f"{side}_temperature")
            return given if given is not None else key.get("serving_temperature", 0.7)
    return key.get("serving_temperature", 0.7)


def earlier_replies(args: argparse.Namespace, items: list[dict]) -> list[str] | None:
    """B's replies from the play in ``--reuse``, when it played B on the same moments."""
    if args.reuse is None:
        return None
    pairs = [json.loads(x) for x in (args.reuse / "pairs.jsonl").read_text().splitlines() if x]
    key = json.loads((args.reuse / "key.json").read_text())
    same = (key.get("seed"), key.get("max_tokens")) == (args.seed, args.max_tokens)
    wanted = SamplingParams().temperature if args.b_temperature is None else args.b_temperature
    same = same and played_temperature(key, args.b) == wanted
    replies = version_replies(pairs, key, args.b)
    if not same or set(replies) != {i["item"] for i in items}:
        sys.exit(
            f"{args.reuse} did not play {args.b} with this seed, token limit, moments and "
            f"temperature ({wanted})"
        )
    return [replies[i["item"]] for i in items]


def play(args: argparse.Namespace) -> None:
    items = script_items() + heldout_items(args.heldout)
    replies_a = play_version(args.a, items, args.seed, args.max_tokens, args.a_temperature)
    replies_b = earlier_replies(args, items)
    if replies_b is None:
        replies_b = play_version(args.b, items, args.seed, args.max_tokens, args.b_temperature)
    shuffle = args.seed if args.shuffle_seed is None else args.shuffle_seed
    pairs, key = make_pairs(items, replies_a, replies_b, seed=shuffle)
    key.update({"a": args.a, "b": args.b, "seed": args.seed, "max_tokens": args.max_tokens,
                "shuffle_seed": shuffle, "a_temperature": args.a_temperature,
                "b_temperature": args.b_temperature,
                "serving_temperature": SamplingParams().temperature})  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pairs.jsonl").write_text(_jsonl(pairs), encoding="utf-8")
    (args.out / "key.json").write_text(json.dumps(key, indent=1), encoding="utf-8")
    todo = [{"pair": p["pair"], "reply_1": "", "reply_2": "", "prefer": ""} for p in pairs]
    (args.out / "verdicts.todo.jsonl").write_text(_jsonl(todo), encoding="utf-8")
    print(f"{len(pairs)} pairs in {args.out}")


def count(args: argparse.Namespace) -> None:
    read = args.dir / "pairs.jsonl", args.dir / "verdicts.jsonl"
    pairs, verdicts = ([json.loads(x) for x in p.read_text().splitlines() if x] for p in read)
    errors = verdict_errors(pairs, verdicts)
    if errors:
        sys.exit("verdicts do not match the pairs:\n" + "\n".join(errors[:20]))
    key = json.loads((args.dir / "key.json").read_text())
    result = {"a": key["a"], "b": key["b"], **unblind(key, verdicts, pairs)}
    (args.dir / "summary.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("play", help="answer the moments with both versions, write the pairs")
    p.add_argument("--a", required=True, help="chat adapter file, 'shipped' or 'none'")
    p.add_argument("--b", required=True, help="chat adapter file, 'shipped' or 'none'")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--heldout", type=int, default=60, help="held-out conversations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=128)
    for side in ("a", "b"):
        p.add_argument(
            f"--{side}-temperature", type=float, default=None,
            help=f"sampling temperature of --{side} (default: the serving default); "
            "--reuse takes replies only from a side played at the same temperature",
        )  # fmt: skip
    p.add_argument(
        "--shuffle-seed", type=int, default=None,
        help="seed of the pairs' order and sides (default: --seed); change it when --reuse "
        "replays a version, so its replies sit elsewhere than in the earlier pairs",
    )  # fmt: skip
    p.add_argument(
        "--reuse", type=Path, default=None,
        help="an earlier play's folder that played --b (same seed, moments): its replies",
    )  # fmt: skip
    c = sub.add_parser("count", help="unblind a reader's verdicts.jsonl")
    c.add_argument("dir", type=Path)
    args = parser.parse_args()
    {"play": play, "count": count}[args.command](args)


if __name__ == "__main__":
    main()
