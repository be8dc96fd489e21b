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


def _read(path: Path) -> list[dict]:
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
    pairs = {p["pair_id"]: p for p in _read(directory / "slices" / f"{name}.jsonl")}
    batch = directory / "batches" / f"{name}.jsonl"
    if not batch.exists():
        return [f"{name}: no batch file"], Counter()
    errors, kinds, seen = [], Counter(), Counter()
    for written in _read(batch):
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
        pairs = {p["pair_id"]: p for p in _read(directory / "slices" / f"{name}.jsonl")}
        for written in _read(directory / "batches" / f"{name}.jsonl"):
            out.append({**pairs[written["pair_id"]], **written})
    return out
