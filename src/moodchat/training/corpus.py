"""The personal-conversation corpus written for moodchat: reading, checking, splitting.

Contract:
- The corpus lives in the repository (``data/personal/``), not in the package: batches of
  JSONL rows ``{"id", "batch", "lang", "situation", "source", "messages"}`` whose user
  turns carry ``label`` (``positive`` / ``negative`` / ``neutral``) and ``hard`` (``None``
  or one of ``HARD_KINDS``), over the situations of ``taxonomy.json``.
- ``row_errors(row, situations)`` lists what is wrong with one row (schema, labels, turn
  order, reply language = the language of the user turn it answers, no lists, length
  bounds, at most one question back); ``near_duplicates(texts)`` finds pairs of user turns
  whose character 5-gram Jaccard similarity is above a threshold.
- ``check_corpus(rows, situations)`` returns a ``CorpusReport``: every error, the
  near-duplicate pairs, and the counts (conversations, turns, labels, languages,
  multi-turn, language switches, hard kinds, situations); ``report.failures(bounds)``
  lists the counts that miss the corpus's acceptance bounds.
- The held-out split is fixed in two committed files, ``heldout_ids.txt`` and
  ``train_ids.txt``: ``assign_heldout`` places rows that are in neither (10% of each
  (situation, language) stratum of those rows, chosen by a hash of the row id, so never by
  file order) and never moves a row already placed; ``split(rows)`` reads the files, and a
  row not yet placed is in neither split. No training reads the held-out rows.
- Imports nothing outside the standard library (writers run the checker before any
  install).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MOODS = ("positive", "negative", "neutral")
HARD_KINDS = (
    "negation",
    "irony",
    "mixed",
    "sad_words_good_news",
    "calm_words_bad_news",
    "happy_words_bad_news",
    "emoji_only",
    "one_word",
    "long_rambling",
    "slang_typos",
)
SOURCE = "written-for-moodchat"
SAFETY_SITUATIONS = frozenset({"self_harm"})
HELDOUT_SHARE = 0.10
HELDOUT_FILE = "heldout_ids.txt"
TRAIN_FILE = "train_ids.txt"
MAX_REPLY_WORDS = 75
MAX_REPLY_CHARS_ZH = 130
_LIST_LINE = re.compile(r"^\s*(?:\d+[.)、](?!\d)|[-*•·]|#+)\s*\S", re.MULTILINE)
_AS_AN_AI = re.compile(r"as an ai|language model|作为(?:一个)?(?:ai|人工智能|语言模型)", re.I)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def corpus_dir(repo_root: Path | None = None) -> Path:
    """``data/personal`` of the checkout this module is in (or of ``repo_root``)."""
    root = repo_root or Path(__file__).resolve().parents[3]
    return root / "data" / "personal"


def load_situations(directory: Path) -> dict[str, str]:
    """Situation id -> its group, from ``taxonomy.json``."""
    tax = json.loads((directory / "taxonomy.json").read_text(encoding="utf-8"))
    return {s["id"]: group for group, items in tax["groups"].items() for s in items}


def read_rows(paths: Iterable[Path]) -> list[dict]:
    """Every JSON line of ``paths``; a line that is not JSON becomes ``{"_error": ...}``."""
    rows = []
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                rows.append({"_error": f"{Path(path).name}:{n}: not JSON ({err.msg})"})
    return rows


def load_corpus(directory: Path | None = None) -> list[dict]:
    """All rows of ``directory/batches/*.jsonl``, in file and line order."""
    directory = directory or corpus_dir()
    return read_rows(sorted((directory / "batches").glob("*.jsonl")))


def text_language(text: str) -> str | None:
    """``zh`` or ``en`` by which script carries more of the text; None with neither."""
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text)) / 3.5  # ~letters per CJK char
    if not cjk and not latin:
        return None
    return "zh" if cjk >= latin else "en"


def _reply_errors(reply: str, lang: str | None) -> list[str]:
    errors = []
    if lang and text_language(reply) not in (lang, None):
        errors.append(f"reply is not in the user's language ({lang}): {reply[:40]!r}")
    if _LIST_LINE.search(reply) or "**" in reply:
        errors.append(f"reply has a list or markdown: {reply[:40]!r}")
    if _AS_AN_AI.search(reply):
        errors.append(f"reply speaks as an AI: {reply[:40]!r}")
    if reply.count("?") + reply.count("？") > 1:
        errors.append(f"reply asks more than one question: {reply[:60]!r}")
    too_long = (
        len(_CJK.findall(reply)) > MAX_REPLY_CHARS_ZH
        if text_language(reply) == "zh"
        else len(reply.split()) > MAX_REPLY_WORDS
    )
    if too_long or len(reply.strip()) < 2:
        errors.append(f"reply length out of bounds: {reply[:40]!r}")
    return errors


def _turn_errors(messages: list, conv_lang: str) -> list[str]:
    errors: list[str] = []
    if not messages or len(messages) % 2 or len(messages) > 8:
        return ["messages must be 1-4 user/assistant exchanges"]
    lang = conv_lang
    for i, m in enumerate(messages):
        role = ("user", "assistant")[i % 2]
        if not isinstance(m, dict) or m.get("role") != role:
            return [f"turn {i} must be a {role} turn"]
        content = m.get("content")
        if not isinstance(content, str) or not content.strip():
            errors.append(f"turn {i} has no content")
            continue
        if role == "user":
            if m.get("label") not in MOODS:
                errors.append(f"turn {i}: label must be one of {MOODS}")
            if m.get("hard") is not None and m.get("hard") not in HARD_KINDS:
                errors.append(f"turn {i}: hard must be null or one of {HARD_KINDS}")
            lang = text_language(content) or lang
        else:
            if "label" in m or "hard" in m:
                errors.append(f"turn {i}: assistant turns carry no label")
            errors += [f"turn {i}: {e}" for e in _reply_errors(content, lang)]
    return errors


def row_errors(row: dict, situations: dict[str, str]) -> list[str]:
    """What is wrong with one row (empty when it is fine)."""
    if "_error" in row:
        return [row["_error"]]
    errors = []
    if not isinstance(row.get("id"), str) or not row["id"].startswith(f"{row.get('batch')}-"):
        errors.append("id must be '<batch>-<number>'")
    if row.get("source") != SOURCE:
        errors.append(f"source must be {SOURCE!r}")
    if row.get("lang") not in ("zh", "en"):
        errors.append("lang must be zh or en")
    if row.get("situation") not in situations:
        errors.append(f"unknown situation {row.get('situation')!r}")
    errors += _turn_errors(row.get("messages") or [], row.get("lang", "en"))
    return [f"{row.get('id', '?')}: {e}" for e in errors]


def shingles(text: str, n: int = 5) -> frozenset[str]:
    """Character ``n``-grams of the lower-cased text with its spaces collapsed."""
    t = " ".join(text.lower().split())
    return frozenset({t} if len(t) <= n else {t[i : i + n] for i in range(len(t) - n + 1)})


def near_duplicates(texts: Sequence[str], threshold: float = 0.7) -> list[tuple[int, int, float]]:
    """Index pairs ``(i, j)``, ``i < j``, whose 5-gram Jaccard similarity is above ``threshold``.

    Exact: candidates come from an inverted index of shingles, then each candidate pair's
    Jaccard is computed from the shared count.
    """
    sets = [shingles(t) for t in texts]
    index: dict[str, list[int]] = {}
    pairs = []
    for j, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for g in s:
            for i in index.get(g, ()):
                shared[i] += 1
            index.setdefault(g, []).append(j)
        for i, k in shared.items():
            jac = k / (len(s) + len(sets[i]) - k)
            if jac > threshold:
                pairs.append((i, j, round(jac, 3)))
    return pairs


def user_turns(row: dict) -> list[dict]:
    """The user turns of a row, in order."""
    return [m for m in row.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]


def is_switch(row: dict) -> bool:
    """True when the user turns of a row are not all in one language."""
    langs = {text_language(m.get("content", "")) for m in user_turns(row)} - {None}
    return len(langs) > 1


@dataclass
class CorpusReport:
    """What ``check_corpus`` found: errors, near-duplicate pairs and counts."""

    errors: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str, float]] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=dict)

    def share(self, key: str, name: str) -> float:
        """``counts[key][name]`` as a share of that counter's total."""
        total = sum(self.counts[key].values())
        return self.counts[key][name] / total if total else 0.0

    def failures(self, bounds: dict[str, float] | None = None) -> list[str]:
        """The acceptance bounds the corpus misses (see ``ACCEPTANCE``)."""
        b = {**ACCEPTANCE, **(bounds or {})}
        c, turns = self.counts, sum(self.counts["labels"].values())
        checks = {
            "conversations": (c["size"]["conversations"], b["conversations"]),
            "situations": (len(c["situations"]), b["situations"]),
            "positive": (self.share("labels", "positive"), b["positive"]),
            "negative": (self.share("labels", "negative"), b["negative"]),
            "neutral": (self.share("labels", "neutral"), b["neutral"]),
            "hard": (sum(c["hard"].values()) / max(turns, 1), b["hard"]),
            "multi_turn": (
                c["size"]["multi_turn"] / max(c["size"]["conversations"], 1),
                b["multi_turn"],
            ),
            "zh": (self.share("languages", "zh"), b["language_min"]),
            "en": (self.share("languages", "en"), b["language_min"]),
        }
        out = [f"{k}: {v:.3g} < {lo}" for k, (v, lo) in checks.items() if v < lo]
        if c["splits"]["unassigned"]:
            out.append(f"unassigned: {c['splits']['unassigned']} rows in no split")
        return out


ACCEPTANCE = {
    "conversations": 3000,
    "situations": 60,
    "positive": 0.30,
    "negative": 0.30,
    "neutral": 0.15,
    "hard": 0.15,
    "multi_turn": 0.40,
    "language_min": 0.40,
}


def _counts(rows: list[dict], directory: Path | None) -> dict[str, Counter]:
    c: dict[str, Counter] = {
        k: Counter() for k in ("size", "labels", "languages", "hard", "situations", "splits")
    }
    for row in rows:
        turns = user_turns(row)
        c["size"]["conversations"] += 1
        c["size"]["multi_turn"] += len(turns) > 1
        c["size"]["language_switch"] += is_switch(row)
        c["situations"][row.get("situation")] += 1
        for m in turns:
            c["labels"][m.get("label")] += 1
            c["languages"][text_language(m.get("content", "")) or row.get("lang")] += 1
            if m.get("hard"):
                c["hard"][m["hard"]] += 1
    train, held = split(rows, directory)
    c["splits"].update(
        train=len(train), heldout=len(held), unassigned=len(rows) - len(train) - len(held)
    )
    c["heldout_strata"] = Counter((r.get("situation"), r.get("lang")) for r in held)
    return c


def check_corpus(
    rows: list[dict], situations: dict[str, str], directory: Path | None = None
) -> CorpusReport:
    """Check every row, find near-duplicate user turns across the corpus, count."""
    report = CorpusReport()
    seen_ids: set[str] = set()
    for row in rows:
        report.errors += row_errors(row, situations)
        rid = row.get("id")
        if rid in seen_ids:
            report.errors.append(f"{rid}: duplicate id")
        seen_ids.add(rid)
    good = [r for r in rows if "_error" not in r]
    where = [(r.get("id", "?"), m.get("content", "")) for r in good for m in user_turns(r)]
    for i, j, jac in near_duplicates([t for _, t in where]):
        report.duplicates.append(
            (f"{where[i][0]}: {where[i][1]}", f"{where[j][0]}: {where[j][1]}", jac)
        )
    report.counts = _counts(good, directory)
    return report


def hash_rank(key: str) -> str:
    """A stable, order-free rank for ``key`` (sha256 hex): how rows are picked, never by
    file order."""
    return hashlib.sha256(key.encode()).hexdigest()


def choose_heldout(rows: Iterable[dict]) -> frozenset[str]:
    """A fresh held-out choice: in each (situation, language) stratum, the ``HELDOUT_SHARE``
    of its rows (rounded, at least one) whose id hashes lowest."""
    strata: dict[tuple, list[str]] = {}
    for row in rows:
        strata.setdefault((row.get("situation"), row.get("lang")), []).append(str(row.get("id")))
    chosen: set[str] = set()
    for ids in strata.values():
        k = max(1, round(len(ids) * HELDOUT_SHARE))
        chosen.update(sorted(ids, key=hash_rank)[:k])
    return frozenset(chosen)


def _ids_path(directory: Path | None, name: str) -> Path:
    return (directory or corpus_dir()) / name


def read_ids(directory: Path | None, name: str) -> frozenset[str]:
    """The ids listed in ``name`` (``HELDOUT_FILE`` / ``TRAIN_FILE``); empty if absent."""
    path = _ids_path(directory, name)
    if not path.is_file():
        return frozenset()
    return frozenset(line.strip() for line in path.read_text("utf-8").splitlines() if line.strip())


def _write_ids(directory: Path | None, name: str, ids: Iterable[str]) -> None:
    _ids_path(directory, name).write_text("".join(f"{i}\n" for i in sorted(ids)), "utf-8")


def assign_heldout(rows: Sequence[dict], directory: Path | None = None) -> frozenset[str]:
    """Place the rows that neither file lists yet (``choose_heldout`` over those rows),
    keep every row already placed where it is, write both files; returns the held-out ids.

    Rows never move once placed, so a corpus that grows never leaks a held-out row into
    training.
    """
    held, train = read_ids(directory, HELDOUT_FILE), read_ids(directory, TRAIN_FILE)
    new = [r for r in rows if r.get("id") not in held | train]
    chosen = choose_heldout(new) if new else frozenset()
    held = held | chosen
    train = train | ({str(r.get("id")) for r in new} - chosen)
    _write_ids(directory, HELDOUT_FILE, held)
    _write_ids(directory, TRAIN_FILE, train)
    return held


def split(rows: Sequence[dict], directory: Path | None = None) -> tuple[list[dict], list[dict]]:
    """``(train, heldout)`` by the committed assignment, each in the input order.

    A row the assignment files do not list yet is neither: it is left out of both until
    ``assign_heldout`` places it, so no training reads a row before its split is fixed.
    """
    held, train_ids = read_ids(directory, HELDOUT_FILE), read_ids(directory, TRAIN_FILE)
    train = [r for r in rows if r.get("id") in train_ids and r.get("id") not in held]
    return train, [r for r in rows if r.get("id") in held]
