"""Preference pairs written for moodchat (``data/preference/``): reading and checking.

Contract:
- A *slice* (``slices/<name>.jsonl``) lists moments of the personal corpus's training
  split, each with its written good reply (``chosen``); its *batch*
  (``batches/<name>.jsonl``) holds one bad reply per moment: ``{"pair_id", "rejected",
  "kind", "source", "batch"}`` with ``kind`` one of ``KINDS``.
- ``line_errors(pair, written, batch)`` lists what is wrong with one written line;
  ``check_slice(directory, name)`` returns ``(errors, kind counts)`` for one slice: every
  moment answered exactly once, no unknown ids, at least ``MIN_OPPOSITE`` of the
  ``opposite_valence`` kind.
- ``load_pairs(directory)`` joins every slice with its batch: ``{"pair_id", "lang",
  "context", "user", "chosen", "rejected", "kind", ...}`` per pair.
- The current model's own replies (``own/<slice>.replies.jsonl``, sampled by
  ``scripts/own_replies.py``) judged by a reader (``own/<slice>.verdicts.jsonl``: one
  ``{"pair_id", "verdict", "note"}`` per reply, ``verdict`` one of ``OWN_VERDICTS``):
  ``own_errors(directory)`` checks every reply judged once with a known verdict;
  ``load_own_pairs(directory)`` makes each reply judged bad a pair (the moment's written
  reply chosen, kind ``own_<verdict>``); ``own_summary`` counts verdicts per slice.
- Imports nothing outside the standard library and the corpus module.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from moodchat.training import corpus

KINDS = ("opposite_valence", "misread_fact", "belittling")
KEYS = frozenset({"pair_id", "rejected", "kind", "source", "batch"})
MIN_OPPOSITE = 0.6


def preference_dir(repo_root: Path | None = None) -> Path:
    """``data/preference`` of the checkout (beside the corpus)."""
    return corpus.corpus_dir(repo_root).parent / "preference"


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def line_errors(pair: dict, written: dict, batch: str) -> list[str]:
    """What is wrong with one written line for its slice moment."""
    errors = []
    if set(written) != KEYS:
        errors.append(f"keys {sorted(written)}")
    if written.get("kind") not in KINDS:
        errors.append(f"kind {written.get('kind')!r}")
    if written.get("source") != corpus.SOURCE:
        errors.append("source")
    if written.get("batch") != batch:
        errors.append(f"batch {written.get('batch')!r}")
    rejected, chosen = str(written.get("rejected", "")), pair["chosen"]
    lang = corpus.text_language(pair["user"]) or pair["lang"]
    if corpus.text_language(rejected) not in (lang, None):
        errors.append("language")
    if corpus._LIST_LINE.search(rejected):
        errors.append("list")
    if corpus._AS_AN_AI.search(rejected):
        errors.append("as an AI")
    if not (max(8, len(chosen) * 0.5) <= len(rejected) <= len(chosen) * 2 + 20):
        errors.append(f"length {len(rejected)} vs chosen {len(chosen)}")
    if rejected.strip() == chosen.strip():
        errors.append("same as chosen")
    return errors


def check_slice(directory: Path, name: str) -> tuple[list[str], Counter]:
    """(errors, kind counts) of one slice's batch file."""
    pairs = {p["pair_id"]: p for p in read_jsonl(directory / "slices" / f"{name}.jsonl")}
    batch = directory / "batches" / f"{name}.jsonl"
    if not batch.exists():
        return [f"{name}: no batch file"], Counter()
    errors, kinds, seen = [], Counter(), Counter()
    for written in read_jsonl(batch):
        pid = written.get("pair_id")
        seen[pid] += 1
        if pid not in pairs:
            errors.append(f"{name}: unknown pair_id {pid}")
            continue
        errors += [f"{name}: {pid}: {e}" for e in line_errors(pairs[pid], written, name)]
        kinds[written.get("kind")] += 1
    errors += [f"{name}: {pid} written {n} times" for pid, n in seen.items() if n > 1]
    errors += [f"{name}: {pid} missing" for pid in pairs if pid not in seen]
    if kinds and kinds["opposite_valence"] < MIN_OPPOSITE * sum(kinds.values()):
        errors.append(f"{name}: opposite_valence under {MIN_OPPOSITE:.0%}")
    return errors, kinds


def slice_names(directory: Path) -> list[str]:
    """The slices of ``directory``, sorted."""
    return sorted(p.stem for p in (directory / "slices").glob("*.jsonl"))


def load_pairs(directory: Path) -> list[dict]:
    """Every slice moment joined with its written rejected reply."""
    out = []
    for name in slice_names(directory):
        pairs = {p["pair_id"]: p for p in read_jsonl(directory / "slices" / f"{name}.jsonl")}
        for written in read_jsonl(directory / "batches" / f"{name}.jsonl"):
            out.append({**pairs[written["pair_id"]], **written})
    return out


OWN_VERDICTS = ("sensible", "misread", "nonsense", "hurtful")


def _own_slices(directory: Path) -> list[str]:
    own = directory / "own"
    return sorted(p.name.removesuffix(".verdicts.jsonl") for p in own.glob("*.verdicts.jsonl"))


def _own_rows(directory: Path, name: str) -> tuple[dict, list[dict]]:
    """(replies by pair_id, the reader's verdict lines) of one slice."""
    own = directory / "own"
    replies = {r["pair_id"]: r for r in read_jsonl(own / f"{name}.replies.jsonl")}
    return replies, read_jsonl(own / f"{name}.verdicts.jsonl")


def own_errors(directory: Path) -> list[str]:
    """What is wrong with the readers' verdicts on the model's own replies."""
    errors = []
    for name in _own_slices(directory):
        replies, lines = _own_rows(directory, name)
        verdicts = {v.get("pair_id"): v for v in lines}
        if len(lines) != len(verdicts):
            errors.append(f"own/{name}: a reply judged twice")
        errors += [f"own/{name}: {pid} not judged" for pid in replies if pid not in verdicts]
        for pid, v in verdicts.items():
            if pid not in replies:
                errors.append(f"own/{name}: unknown pair_id {pid}")
            if v.get("verdict") not in OWN_VERDICTS:
                errors.append(f"own/{name}: {pid}: verdict {v.get('verdict')!r}")
    return errors


def load_own_pairs(directory: Path) -> list[dict]:
    """The model's own replies judged bad, each against the moment's written reply."""
    out = []
    for name in _own_slices(directory):
        moments = {m["pair_id"]: m for m in read_jsonl(directory / "slices" / f"{name}.jsonl")}
        replies, lines = _own_rows(directory, name)
        for pid, v in sorted({v["pair_id"]: v for v in lines}.items()):
            if v["verdict"] != "sensible" and replies[pid]["reply"].strip():
                reply = replies[pid]
                out.append({**moments[pid], "rejected": reply["reply"],
                            "kind": f"own_{v['verdict']}", "batch": f"own/{name}",
                            "source": f"model reply ({reply['version']}), judged"})  # fmt: skip
    return out


def own_summary(directory: Path) -> dict:
    """Verdicts per slice on the model's own replies, and the pairs they make."""
    summary = {}
    for name in _own_slices(directory):
        _, lines = _own_rows(directory, name)
        counts = Counter(v.get("verdict") for v in lines)
        summary[name] = {"replies": len(lines), **{k: counts[k] for k in OWN_VERDICTS}}
    summary["pairs"] = len(load_own_pairs(directory))
    return summary
