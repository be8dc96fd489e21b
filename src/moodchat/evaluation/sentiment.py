"""Evaluation of the sentiment analyst on labelled data: metrics, runs and comparisons.

Contract:
- The metric functions are pure and take parallel sequences of labels (``positive`` /
  ``negative`` / ``neutral``) and confidences: ``accuracy``, ``macro_f1`` (mean F1 of
  positive, negative, and neutral when it is in the gold labels or the predictions; a class
  never predicted nor present scores 0), ``confusion`` (counts keyed ``gold -> predicted``,
  over the labels ``labels_seen`` finds), ``reliability_bins`` and
  ``expected_calibration_error`` (equal-width confidence bins over [0, 1]; ECE = sum over
  bins of ``n_bin / n * |accuracy - mean confidence|``) and ``latency_summary`` (mean,
  P50, P90, P99 in ms).
- ``load_dataset`` reads a CSV/JSONL file through ``moodchat.evaluation.tabular``; rows
  without a usable text or gold label are skipped and counted. ``limit`` keeps an evenly
  spaced subset (every k-th row), so a quick run still covers the whole file.
- ``evaluate_prompts`` loads nothing: it builds one ``SentimentRole`` per prompt version on
  the given engine, scores every dataset with it, and releases the role's cached prefix
  before the next version, so any number of versions fits the engine's sequences.
- Results are plain dataclasses; ``report_dict`` turns them into JSON-ready dicts.
  Writing Markdown, JSON and the reliability diagram lives in ``moodchat.evaluation.report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from moodchat.engine.base import Engine
from moodchat.errors import InputError
from moodchat.evaluation.stats import percentiles
from moodchat.evaluation.tabular import read_rows
from moodchat.inputs import clean_text
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import DEFAULT_MAX_INPUT_TOKENS, SentimentRole
from moodchat.template import ChatML
from moodchat.types import BINARY_LABELS, LABELS
from moodchat.weights.adapters import AdapterInfo

N_BINS = 10


# -- metrics ---------------------------------------------------------------------------
def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of predictions equal to the gold label (0.0 for no rows)."""
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def labels_seen(gold: Sequence[str], pred: Sequence[str]) -> tuple[str, ...]:
    """Positive and negative, plus neutral when the gold labels or predictions have it."""
    return LABELS if "neutral" in {*gold, *pred} else BINARY_LABELS


def confusion(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, int]]:
    """Counts ``matrix[gold][predicted]`` over ``labels_seen``."""
    labels = labels_seen(gold, pred)
    matrix = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, pred):
        matrix[g][p] += 1
    return matrix


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean of the per-label F1 scores."""
    m = confusion(gold, pred)
    scores = []
    for lab in m:
        tp = m[lab][lab]
        fp = sum(m[g][lab] for g in m if g != lab)
        fn = sum(m[lab][p] for p in m if p != lab)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


@dataclass(frozen=True)
class Bin:
    """One confidence bin of a reliability diagram."""

    lo: float
    hi: float
    count: int
    accuracy: float
    confidence: float


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> list[Bin]:
    """Equal-width bins over [0, 1]; a confidence of exactly 1.0 falls in the last bin."""
    conf = np.asarray(confidences, dtype=float)
    ok = np.asarray(correct, dtype=float)
    index = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = index == b
        n = int(mask.sum())
        bins.append(
            Bin(
                lo=b / n_bins,
                hi=(b + 1) / n_bins,
                count=n,
                accuracy=float(ok[mask].mean()) if n else 0.0,
                confidence=float(conf[mask].mean()) if n else 0.0,
            )
        )
    return bins


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence per bin."""
    total = len(confidences)
    if not total:
        return 0.0
    bins = reliability_bins(confidences, correct, n_bins)
    return sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins if b.count)


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """Mean and percentiles of per-item latencies in milliseconds."""
    mean = round(float(np.mean(ms)), 2) if len(ms) else 0.0
    return {"mean": mean} | {k: v for k, v in percentiles(ms).items() if k != "n"}


# -- data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """Labelled texts read from one file."""

    name: str
    texts: tuple[str, ...]
    gold: tuple[str, ...]
    skipped: int = 0


def _every_kth(items: list, limit: int | None) -> list:
    if not limit or limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def load_dataset(
    path: Path, text_column: str = "text", label_column: str = "label", limit: int | None = None
) -> Dataset:
    """Usable (text, gold) rows of a CSV/JSONL file, optionally an evenly spaced subset."""
    usable, skipped = [], 0
    for row in read_rows(Path(path), text_column, label_column):
        try:
            text = clean_text(row.get("text")) if not row.get("error") else None
        except InputError:
            text = None
        if text is None or row.get("gold") not in LABELS:
            skipped += 1
            continue
        usable.append((text, row["gold"]))
    if not usable:
        raise InputError(f"{path}: no rows with both a text and a gold label")
    chosen = _every_kth(usable, limit)
    return Dataset(
        name=Path(path).stem,
        texts=tuple(t for t, _ in chosen),
        gold=tuple(g for _, g in chosen),
        skipped=skipped,
    )


# -- runs ------------------------------------------------------------------------------
@dataclass
class DatasetResult:
    """One prompt version on one dataset."""

    dataset: str
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    confusion: dict[str, dict[str, int]]
    latency_ms: dict[str, float]
    mean_request_tokens: float
    truncated: int
    bins: list[Bin] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list, repr=False)
    confidences: list[float] = field(default_factory=list, repr=False)


@dataclass
class PromptResult:
    """One prompt version over every dataset."""

    prompt: str
    description: str
    prefix_tokens: int
    calibrated: bool
    datasets: list[DatasetResult]


Progress = Callable[[str, int], None]


def score_dataset(
    role: SentimentRole, data: Dataset, *, batch_size: int = 16, progress: Progress | None = None
) -> DatasetResult:
    """Label every text of ``data`` with ``role`` and compute the metrics."""
    results, latencies = [], []
    for lo in range(0, len(data.texts), batch_size):
        chunk = data.texts[lo : lo + batch_size]
        start = time.perf_counter()
        out = role.analyze_many(chunk) if batch_size > 1 else [role.analyze(chunk[0])]
        per_item = (time.perf_counter() - start) * 1000 / len(chunk)
        results += out
        latencies += [per_item] * len(chunk)
        if progress:
            progress(data.name, len(chunk))
    pred = [s.label for s in results]
    conf = [s.confidence for s in results]
    correct = [p == g for p, g in zip(pred, data.gold)]
    return DatasetResult(
        dataset=data.name,
        n=len(pred),
        accuracy=round(accuracy(data.gold, pred), 4),
        macro_f1=round(macro_f1(data.gold, pred), 4),
        ece=round(expected_calibration_error(conf, correct), 4),
        confusion=confusion(data.gold, pred),
        latency_ms=latency_summary(latencies),
        mean_request_tokens=round(float(np.mean([s.n_tokens for s in results])), 1),
        truncated=sum(s.truncated for s in results),
        bins=reliability_bins(conf, correct),
        predictions=pred,
        confidences=conf,
    )


def evaluate_prompts(
    engine: Engine,
    datasets: Sequence[Dataset],
    prompt_names: Sequence[str],
    *,
    max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
    batch_size: int = 16,
    progress: Progress | None = None,
    adapter: AdapterInfo | None = None,
    labels: str = "three",
) -> list[PromptResult]:
    """Every prompt version on every dataset, one cached prefix alive at a time.

    The version ``adapter`` was trained with runs with that adapter and its temperature
    (reported as ``<prompt> + adapter``); every other version runs prompt-only.
    """
    template = ChatML(engine)
    handle = None
    out = []
    for name in prompt_names:
        prompt = sentiment_prompt(name)
        with_adapter = adapter is not None and prompt.name == adapter.prompt
        if with_adapter:
            handle = handle or engine.load_adapter(adapter.path)
            prompt = replace(prompt, temperature=adapter.temperature)
        role = SentimentRole(
            engine,
            template,
            prompt,
            max_input_tokens=max_input_tokens,
            adapter=handle if with_adapter else None,
            labels=labels,
        )
        prefix_tokens = role.prefix_tokens()
        try:
            scored = [
                score_dataset(role, d, batch_size=batch_size, progress=progress) for d in datasets
            ]
        finally:
            role.release()
        out.append(
            PromptResult(
                prompt=prompt.name + (" + adapter" if with_adapter else ""),
                description=prompt.description,
                prefix_tokens=prefix_tokens,
                calibrated=prompt.calibrate,
                datasets=scored,
            )
        )
    return out


def report_dict(results: Sequence[PromptResult], meta: dict | None = None) -> dict:
    """JSON-ready dict of a whole evaluation (predictions left out)."""
    prompts = []
    for r in results:
        d = asdict(r)
        for ds in d["datasets"]:
            ds.pop("predictions")
            ds.pop("confidences")
        prompts.append(d)
    return {"meta": meta or {}, "prompts": prompts}
