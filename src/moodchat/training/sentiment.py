"""``moodchat train-sentiment``: a LoRA adapter that makes the sentiment read-out right.

Contract:
- The base model is loaded through transformers from the same GGUF file llama.cpp serves
  (dequantized), so the adapter is trained on exactly the served weights.
- Each example is the serving sequence: the adapter prompt's cached prefix, the text (head
  and tail kept past ``max_text_tokens``), the end of the user turn and the opening of the
  assistant's (``moodchat.roles.sentiment.prefix_tokens`` / ``request_tokens``). The loss
  is cross-entropy over the two labels' answer-token scores at the answer position, the
  same quantities the role compares, so the read-out, the API and the confidence stay.
- Data: a seeded, label- and language-balanced sample of the CSVs in ``data_dir``
  (``zh_*.csv`` share the Chinese half, ``en_*.csv`` the English half), the everyday
  messages written for this project (``training/data/everyday_sentiment.csv``), with
  ``corpus`` set the user turns of the personal corpus's *training* split
  (``moodchat.training.corpus``; each read after its previous user turn, as served) repeated
  ``corpus_repeat`` times, and attacked copies (``moodchat.training.data.with_attacks``).
  The labels are the prompt's: with a three-answer prompt (``a2-adapter``) the loss is over
  positive / negative / neutral; with a two-answer one, neutral turns are left out. A
  held-out slice of the training sample fits the temperature; ``dev`` files and the
  corpus's held-out split are only measured, never trained on.
- With ``init_adapter`` the LoRA starts from that trained adapter's matrices (same K and
  rank), and its provenance is recorded under the data; otherwise it starts fresh.
- The output is a GGUF LoRA adapter (``moodchat.training.export``) with metadata: base
  sha256/size/fingerprint, prompt version, K, rank, temperature and a provenance record
  (files with sha256, row counts, hyper-parameters, held-out and dev accuracy).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from moodchat.evaluation.sentiment import expected_calibration_error
from moodchat.prompts import sentiment_prompt
from moodchat.roles.sentiment import answer_ids, prefix_tokens, request_tokens
from moodchat.training import corpus
from moodchat.training.base import (
    Report,
    cached_lower,
    corpus_record,
    data_records,
    fit_lora,
    init_record,
    load_base,
    write_trained_adapter,
)
from moodchat.training.data import (
    LabelledText,
    balanced_sample,
    corpus_turns,
    label_counts,
    read_labelled,
    split_holdout,
    with_attacks,
)
from moodchat.training.layers import SplitModel
from moodchat.training.lora import (
    Example,
    fit_temperature,
    label_loss,
    predict,
)
from moodchat.weights.adapters import adapter_tensors

ADAPTER_PROMPT = "a1-adapter"
THREE_WAY_PROMPT = "a2-adapter"  # the prompt with a neutral answer word
EVERYDAY_FILE = "everyday_sentiment.csv"
# The shipped adapter's mix (rows per label): the dev sets' domains weigh most, the
# product reviews keep the Chinese half broad.
DEFAULT_ROWS = {"zh_waimai.csv": 3000, "zh_shopping.csv": 1500, "en_sst2.csv": 4500}


@dataclass
class SentimentTrainConfig:
    """Everything that decides the adapter; recorded in its provenance."""

    model: str
    data_dir: str
    out: str
    dev: list[str] = field(default_factory=list)
    per_language: int = 4000
    # rows per label drawn from a named file (overrides its share of ``per_language``)
    rows_per_label: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_ROWS))
    everyday_repeat: int = 2
    attack_fraction: float = 0.1
    holdout: int = 400
    top_layers: int = 24
    rank: int = 16
    alpha: float = 32.0
    epochs: int = 1
    batch_size: int = 16
    lr: float = 3e-4
    max_text_tokens: int = 64
    seed: int = 0
    threads: int | None = None
    prompt: str = ADAPTER_PROMPT
    cache_dir: str | None = None  # keep the frozen layers' output here for later runs
    corpus: str | None = None  # data/personal: its training split's user turns are trained on
    corpus_repeat: int = 1
    init_adapter: str | None = None  # start from this trained adapter (same K and rank)
    max_grad_norm: float | None = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps (None: all epochs)
    compute: str = "bfloat16"  # the layers' matrix products (moodchat.training.layers)


def everyday_path() -> Path:
    """The everyday messages written for this project (package data)."""
    return Path(str(resources.files("moodchat.training").joinpath(f"data/{EVERYDAY_FILE}")))


def training_rows(config: SentimentTrainConfig, rng: random.Random) -> tuple[list, list[dict]]:
    """(rows, file records): the balanced sample, everyday rows and attacked copies."""
    files = sorted(Path(config.data_dir).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no training CSV files in {config.data_dir}")
    groups = {f.name: read_labelled(f) for f in files}
    zh = {k: v for k, v in groups.items() if k.startswith("zh_")}
    en = {k: v for k, v in groups.items() if not k.startswith("zh_")}
    rows: list[LabelledText] = []
    for lang in (zh, en):
        if lang:
            default = config.per_language // (2 * len(lang))
            cells = {name: config.rows_per_label.get(name, default) for name in lang}
            rows += balanced_sample(lang, cells, rng)
    everyday = read_labelled(everyday_path())
    rows += everyday * config.everyday_repeat
    written = (everyday_path(), f"moodchat/training/data/{EVERYDAY_FILE}", len(everyday))
    records = data_records({f: len(groups[f.name]) for f in files}, written, "rows")
    if config.corpus:
        directory = Path(config.corpus)
        turns = corpus_turns(corpus.split(corpus.load_corpus(directory), directory)[0])
        rows += turns * config.corpus_repeat
        records.append(corpus_record(Path(config.corpus), len(turns)))
    return rows, records


def corpus_heldout(config: SentimentTrainConfig) -> list[LabelledText]:
    """The corpus's held-out user turns (measured, never trained on); none without corpus."""
    if not config.corpus:
        return []
    directory = Path(config.corpus)
    return corpus_turns(corpus.split(corpus.load_corpus(directory), directory)[1])


class _Sequences:
    """Serving token sequences for texts under one prompt."""

    def __init__(self, engine, template, prompt, max_text_tokens: int) -> None:
        self.template, self.prompt, self.limit = template, prompt, max_text_tokens
        self.prefix = prefix_tokens(template, prompt)
        self.label_ids = answer_ids(engine, prompt)

    def usable(self, rows: Sequence[LabelledText]) -> list[LabelledText]:
        """The rows whose label the prompt can answer (no neutral for a two-answer one)."""
        return [r for r in rows if r.label in self.prompt.labels]

    def example(self, row: LabelledText) -> Example:
        body, _ = request_tokens(self.template, self.prompt, row.text, self.limit, row.context)
        return Example(tuple(self.prefix + body), self.prompt.labels.index(row.label))


def _metrics(scores: torch.Tensor, targets: Sequence[int], temperature: float) -> dict:
    probs = torch.softmax(scores / temperature, dim=-1)
    conf, pred = probs.max(dim=-1)
    correct = [int(p) == t for p, t in zip(pred, targets)]
    return {
        "n": len(correct),
        "accuracy": round(sum(correct) / max(1, len(correct)), 4),
        "ece": round(expected_calibration_error(conf.tolist(), correct), 4),
    }


def _measure(config, split, seqs, rows, report, stage) -> tuple[torch.Tensor, list[int]]:
    examples = [seqs.example(r) for r in seqs.usable(rows)]
    cached = cached_lower(config, split, examples, report, stage=stage, store=False)
    scores = predict(split, examples, cached, seqs.label_ids)
    return scores, [e.target for e in examples]


def _calibrate_and_measure(config, split, seqs, holdout, report) -> tuple[float, dict]:
    """(temperature fitted on the held-out rows, metrics per held-out / dev set)."""
    scores, targets = _measure(config, split, seqs, holdout, report, "held-out check")
    temperature = fit_temperature(scores, targets)
    evaluation = {"holdout": _metrics(scores, targets, temperature)}
    for path in config.dev:
        name = Path(path).name
        dev_scores, dev_targets = _measure(
            config, split, seqs, read_labelled(path), report, f"measuring {name}"
        )
        evaluation[name] = _metrics(dev_scores, dev_targets, temperature)
    heldout = corpus_heldout(config)
    if heldout:
        c_scores, c_targets = _measure(
            config, split, seqs, heldout, report, "measuring the corpus's held-out split"
        )
        evaluation["personal_heldout"] = _metrics(c_scores, c_targets, temperature)
    return temperature, evaluation


def train_sentiment(config: SentimentTrainConfig, report: Report) -> dict:
    """Train, measure and write the adapter; returns its metadata."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    rows, records = training_rows(config, rng)
    engine, template = load_base(config)
    prompt = sentiment_prompt(config.prompt)
    seqs = _Sequences(engine, template, prompt, config.max_text_tokens)
    train_rows, holdout = split_holdout(seqs.usable(rows), config.holdout, rng)
    train_rows = with_attacks(train_rows, config.attack_fraction, rng)
    split = SplitModel(engine.model, config.top_layers, config.compute)
    examples = [seqs.example(r) for r in train_rows]
    loss = label_loss(split, seqs.label_ids)
    init = adapter_tensors(config.init_adapter) if config.init_adapter else None
    if config.init_adapter:
        records.append(init_record(config.init_adapter))
    peft_model, losses = fit_lora(config, split, examples, loss, report, init)
    temperature, evaluation = _calibrate_and_measure(config, split, seqs, holdout, report)
    return write_trained_adapter(
        config, "sentiment", prompt_name=prompt.name, temperature=temperature,
        peft_model=peft_model, split=split, started=start, losses=losses, records=records,
        rows=label_counts(train_rows),
        measured=evaluation,
        dev_accuracy={k: v["accuracy"] for k, v in evaluation.items() if k != "holdout"},
    )  # fmt: skip
