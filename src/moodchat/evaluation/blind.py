"""Blind side-by-side judging of two versions' replies: pairing, the key, unblinding.

Contract:
- An *item* is one moment to answer: ``{"item": id, "source": str, "shown": [messages
  the reader sees before it], "user": the message}``. Both versions answer the same items.
- ``make_pairs(items, replies_a, replies_b, seed)`` returns ``(pairs, key)``: the pairs in
  a seeded shuffled order, each ``{"pair", "source", "shown", "user", "reply_1",
  "reply_2"}`` with the two versions' replies on sides drawn at random per pair, and no
  trace of which is which; the key maps each pair to its item and to the version on side 1.
  Pairs and key go to separate files, the reader gets only the pairs.
- A verdict is ``{"pair", "reply_1", "reply_2", "prefer"}``: each reply one of
  ``VERDICTS``; ``prefer`` is ``"1"``, ``"2"`` or ``"neither"``. ``verdict_errors`` checks
  a list of them against the pairs (every pair judged once, known values).
- ``version_replies(pairs, key, version)`` recovers one version's reply per item id from
  an earlier play (``version`` named as its key names it), so a version already played
  with the same seed and token limit need not be played again.
- ``unblind(key, verdicts, pairs)`` counts per version (``a`` / ``b``): each verdict, the bad rate
  (misread + nonsense + hurtful over replies), and the preferences, overall, per source,
  and over the pairs whose two replies differ (``differing``; identical ones, such as the
  safety rule's fixed reply given by both, are counted in ``identical_pairs``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

VERDICTS = ("sensible", "misread", "nonsense", "hurtful")
BAD = frozenset({"misread", "nonsense", "hurtful"})
PREFER = ("1", "2", "neither")


def make_pairs(
    items: Sequence[dict], replies_a: Sequence[str], replies_b: Sequence[str], seed: int = 0
) -> tuple[list[dict], dict]:
    """Shuffled, unlabelled pairs of the two versions' replies, and the key to unblind them."""
    if not (len(items) == len(replies_a) == len(replies_b)):
        raise ValueError("one reply per item from each version")
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    pairs, sides = [], {}
    for number, index in enumerate(order, start=1):
        item, a_first = items[index], rng.random() < 0.5
        first, second = (replies_a, replies_b) if a_first else (replies_b, replies_a)
        pairs.append(
            {
                "pair": number,
                "source": item["source"],
                "shown": item["shown"],
                "user": item["user"],
                "reply_1": first[index],
                "reply_2": second[index],
            }
        )
        sides[str(number)] = {"item": item["item"], "side_1": "a" if a_first else "b"}
    return pairs, {"sides": sides}


def verdict_errors(pairs: Sequence[dict], verdicts: Sequence[dict]) -> list[str]:
    """What is wrong with a reader's verdicts: unknown values, pairs missed or judged twice."""
    errors, seen = [], Counter(str(v.get("pair")) for v in verdicts)
    for v in verdicts:
        for side in ("reply_1", "reply_2"):
            if v.get(side) not in VERDICTS:
                errors.append(f"pair {v.get('pair')}: {side} {v.get(side)!r}")
        if str(v.get("prefer")) not in PREFER:
            errors.append(f"pair {v.get('pair')}: prefer {v.get('prefer')!r}")
    errors += [f"pair {p} judged {n} times" for p, n in seen.items() if n > 1]
    errors += [f"pair {p['pair']} not judged" for p in pairs if str(p["pair"]) not in seen]
    return errors


def _side_counts(rows: Sequence[tuple[str, dict, dict]]) -> dict:
    verdicts = {"a": Counter(), "b": Counter()}
    prefer = Counter()
    for _source, side, v in rows:
        other = "b" if side["side_1"] == "a" else "a"
        verdicts[side["side_1"]][v["reply_1"]] += 1
        verdicts[other][v["reply_2"]] += 1
        choice = str(v["prefer"])
        prefer[{"1": side["side_1"], "2": other}.get(choice, "neither")] += 1
    out = {}
    for name, counts in verdicts.items():
        n = sum(counts.values())
        bad = sum(counts[k] for k in BAD)
        out[name] = {**{k: counts[k] for k in VERDICTS}, "replies": n,
                     "bad_rate": round(bad / max(1, n), 4)}  # fmt: skip
    decided = prefer["a"] + prefer["b"]
    out["prefer"] = {
        **{k: prefer[k] for k in ("a", "b", "neither")},
        "a_share_of_decided": round(prefer["a"] / decided, 4) if decided else None,
    }
    return out


def unblind(key: dict, verdicts: Sequence[dict], pairs: Sequence[dict]) -> dict:
    """Counts per version, overall and per source, from the key and the verdicts."""
    source = {str(p["pair"]): p["source"] for p in pairs}
    rows = [(source[str(v["pair"])], key["sides"][str(v["pair"])], v) for v in verdicts]
    result = {"all": _side_counts(rows)}
    for name in sorted({r[0] for r in rows}):
        result[name] = _side_counts([r for r in rows if r[0] == name])
    same = {str(p["pair"]) for p in pairs if p["reply_1"] == p["reply_2"]}
    result["differing"] = _side_counts([r for r in rows if str(r[2]["pair"]) not in same])
    result["identical_pairs"] = len(same)
    return result


def version_replies(pairs: Sequence[dict], key: dict, version: str) -> dict[str, str]:
    """``{item id: reply}`` of the version a played pairs file and key call ``version``."""
    name = next((s for s in ("a", "b") if key.get(s) == version), None)
    if name is None:
        sides = f"{key.get('a')}, {key.get('b')}"
        raise ValueError(f"{version!r} is neither side of that key ({sides})")
    replies = {}
    for p in pairs:
        side = key["sides"][str(p["pair"])]
        replies[side["item"]] = p["reply_1"] if side["side_1"] == name else p["reply_2"]
    return replies
