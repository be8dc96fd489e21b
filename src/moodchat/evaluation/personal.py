"""The analyst on personal messages: metrics over labelled conversation turns.

Contract:
- ``score_turns(analyze_many, texts, contexts)`` labels the turns in batches through an
  ``analyze_many(texts, contexts)`` callable (``Assistant.analyze_many``), keeping order;
  ``contexts=None`` reads every turn alone.
- ``personal_metrics(gold, results, kinds)`` is pure. Over every turn: three-way accuracy,
  macro-F1 and ECE. Over the non-neutral turns: ``binary_accuracy``, the label read as the
  seed's two (positive when its probability is at least negative's), and
  ``opposite``, the count of turns read as the opposite mood (a loss read positive, good
  news read negative). The same per ``kinds`` value (the corpus's hard-case kinds; turns
  with no kind are ``plain``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from moodchat.evaluation.sentiment import accuracy, expected_calibration_error, macro_f1
from moodchat.types import Sentiment

AnalyzeMany = Callable[[Sequence[str], Sequence[str | None] | None], list[Sentiment]]


def score_turns(
    analyze_many: AnalyzeMany,
    texts: Sequence[str],
    contexts: Sequence[str | None] | None,
    batch_size: int = 16,
) -> list[Sentiment]:
    """Every turn's ``Sentiment``, in order, ``batch_size`` at a time."""
    out: list[Sentiment] = []
    for lo in range(0, len(texts), batch_size):
        chunk_contexts = contexts[lo : lo + batch_size] if contexts is not None else None
        out += analyze_many(texts[lo : lo + batch_size], chunk_contexts)
    return out


def binary_label(s: Sentiment) -> str:
    """The label read as positive / negative only, from the same probabilities."""
    p = s.probabilities
    return "positive" if p.get("positive", 0.0) >= p.get("negative", 0.0) else "negative"


def _summary(gold: Sequence[str], results: Sequence[Sentiment]) -> dict:
    pred = [s.label for s in results]
    correct = [p == g for p, g in zip(pred, gold)]
    polar = [(g, s) for g, s in zip(gold, results) if g != "neutral"]
    polar_gold = [g for g, _ in polar]
    polar_pred = [binary_label(s) for _, s in polar]
    opposite = sum(s.label not in (g, "neutral") for g, s in polar)
    return {
        "n": len(gold),
        "accuracy": round(accuracy(gold, pred), 4),
        "macro_f1": round(macro_f1(gold, pred), 4),
        "ece": round(expected_calibration_error([s.confidence for s in results], correct), 4),
        "non_neutral": len(polar),
        "binary_accuracy": round(accuracy(polar_gold, polar_pred), 4),
        "opposite": opposite,
        "predicted": {lab: pred.count(lab) for lab in sorted(set(pred))},
    }


def personal_metrics(
    gold: Sequence[str], results: Sequence[Sentiment], kinds: Sequence[str | None]
) -> dict:
    """Metrics over all turns and per hard-case kind (see the module contract)."""
    out = _summary(gold, results)
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        groups.setdefault(kind or "plain", []).append(i)
    out["by_kind"] = {
        kind: _summary([gold[i] for i in idx], [results[i] for i in idx])
        for kind, idx in sorted(groups.items())
    }
    return out
