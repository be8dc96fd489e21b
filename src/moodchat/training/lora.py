"""The LoRA training loop over cached lower-layer outputs, shared by every role's adapter.

Contract:
- ``Example``: one token sequence, the position whose next-token logits are read, and the
  target label index (a classifier read-out). ``TokenExample``: one token sequence and the
  positions whose next token is learned (a language-model loss on some tokens only).
  ``cache_lower(split, examples, ...)`` runs the frozen lower layers
  once per example (right-padded batches of similar length) and returns one float32
  (tokens x hidden) tensor per example.
- ``attach_lora(model, layers, rank, alpha, seed)`` wraps ``model`` in place with PEFT LoRA
  on every linear module of the listed layers and returns the PEFT model; only the LoRA
  matrices require grad.
- ``train(...)`` runs seeded epochs of AdamW (linear warm-up then linear decay) over
  length-bucketed batches, minimising ``batch_loss(hidden, rows)``: ``label_loss`` (cross-
  entropy over the label scores of ``SplitModel.label_scores``) or ``token_loss``
  (cross-entropy of the learned next tokens); ``on_step`` receives (examples done, running
  loss). ``mean_loss`` is the same loss without grad, for held-out checks.
- ``predict(...)`` returns per-example (label-score) rows without grad, for accuracy and
  temperature fitting.
- Same seed, same data, same threads: same adapter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from moodchat.training.layers import SplitModel

LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Example:
    """A token sequence to read at position ``last`` and the index of its true label."""

    tokens: tuple[int, ...]
    target: int

    @property
    def last(self) -> int:
        return len(self.tokens) - 1


@dataclass(frozen=True)
class TokenExample:
    """A token sequence and the positions ``i`` whose next token ``tokens[i + 1]`` is learned."""

    tokens: tuple[int, ...]
    targets: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.targets or max(self.targets) >= len(self.tokens) - 1 or min(self.targets) < 0:
            raise ValueError("targets must be non-empty positions before the last token")


BatchLoss = Callable[[torch.Tensor, Sequence], torch.Tensor]


def _length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices in batches of similar length (sorted within shuffled windows), shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 32
    batches: list[list[int]] = []
    for lo in range(0, len(order), window):
        chunk = sorted(order[lo : lo + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad_ids(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([[*r, *[0] * (width - len(r))] for r in rows], dtype=torch.long)


def _pad_hidden(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    width = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros((len(rows), width, rows[0].shape[1]))
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


def cache_lower(
    split: SplitModel,
    examples: Sequence[Example],
    *,
    batch_tokens: int = 2048,
    on_batch: Callable[[int], None] | None = None,
) -> list[torch.Tensor]:
    """The frozen lower layers' output for every example (one tensor each, input order)."""
    out: list[torch.Tensor | None] = [None] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].tokens))
    lo = 0
    while lo < len(order):
        hi = lo + 1
        while hi < len(order) and len(examples[order[hi]].tokens) * (hi - lo + 1) <= batch_tokens:
            hi += 1
        group = order[lo:hi]
        hidden = split.lower(_pad_ids([examples[i].tokens for i in group]))
        for row, i in enumerate(group):
            out[i] = hidden[row, : len(examples[i].tokens)].clone()
        if on_batch:
            on_batch(len(group))
        lo = hi
    return out  # type: ignore[return-value]


def attach_lora(model, layers: Sequence[int], rank: int, alpha: float, seed: int):
    """Wrap ``model`` with LoRA on the linear modules of ``layers``; returns the PEFT model."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0.0,
        bias="none",
        target_modules=list(LINEAR_MODULES),
        layers_to_transform=list(layers),
    )
    return get_peft_model(model, config)


def _scores(split, hidden, examples, label_ids) -> torch.Tensor:
    last = torch.tensor([e.last for e in examples])
    return split.label_scores(split.upper_last(hidden, last), label_ids)


def label_loss(split: SplitModel, label_ids: Sequence[Sequence[int]]) -> BatchLoss:
    """Cross-entropy over the label scores at each ``Example``'s answer position."""

    def loss(hidden: torch.Tensor, rows: Sequence[Example]) -> torch.Tensor:
        target = torch.tensor([r.target for r in rows])
        return torch.nn.functional.cross_entropy(_scores(split, hidden, rows, label_ids), target)

    return loss


def token_loss(split: SplitModel) -> BatchLoss:
    """Mean cross-entropy of the learned next tokens of ``TokenExample`` rows.

    The output head runs only at the learned positions: it is the costliest matrix of a
    small model (vocabulary x hidden), so skipping the prompt's positions halves a step.
    """

    def loss(hidden: torch.Tensor, rows: Sequence[TokenExample]) -> torch.Tensor:
        states = split.upper_states(hidden)
        row_idx = [b for b, r in enumerate(rows) for _ in r.targets]
        pos_idx = [p for r in rows for p in r.targets]
        nxt = torch.tensor([r.tokens[p + 1] for r in rows for p in r.targets])
        logits = states[row_idx, pos_idx] @ split.head.T
        return torch.nn.functional.cross_entropy(logits, nxt)

    return loss


def train(
    split: SplitModel,
    peft_model,
    examples: Sequence[Example | TokenExample],
    cached: Sequence[torch.Tensor],
    batch_loss: BatchLoss,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
    max_grad_norm: float | None = None,
    max_steps: int | None = None,
    skip_steps: int = 0,
) -> list[float]:
    """Train the LoRA matrices; returns the mean loss of each epoch.

    ``max_steps`` ends training after that many optimizer steps (the learning-rate schedule
    spans them; the last epoch's loss is over the batches it saw): the batches of an epoch
    come in a shuffled order, so a cut epoch learns a random share of the examples.
    ``max_grad_norm`` clips the gradients' global norm (off by default: the shipped adapter
    was trained without it; a run at lr 1.5e-3 without it diverged late in its first epoch).
    ``skip_steps`` passes over the first batches of the same seeded order untrained, so a
    run continued from an earlier one's adapter (same seed) learns the batches it had not
    reached; the schedule spans the steps that remain.
    """
    rng = random.Random(seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    lengths = [len(e.tokens) for e in examples]
    total = max(0, epochs * math.ceil(len(examples) / batch_size) - skip_steps)
    if max_steps is not None:
        total = min(total, max_steps)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    peft_model.train()
    epoch_losses, step, skipped = [], 0, 0
    for _ in range(epochs):
        running, seen = 0.0, 0
        for batch in _length_batches(lengths, batch_size, rng):
            if skipped < skip_steps:
                skipped += 1
                continue
            if step == total:
                break
            step += 1
            rows = [examples[i] for i in batch]
            loss = batch_loss(_pad_hidden([cached[i] for i in batch]), rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            opt.step()
            sched.step()
            running += loss.item() * len(batch)
            seen += len(batch)
            if on_step:
                on_step(len(batch), running / seen)
        if seen:
            epoch_losses.append(running / seen)
    peft_model.eval()
    return epoch_losses


def mean_loss(
    examples: Sequence[Example | TokenExample],
    cached: Sequence[torch.Tensor],
    batch_loss: BatchLoss,
    *,
    batch_size: int = 8,
) -> float:
    """``batch_loss`` averaged over ``examples`` (weighted by rows), without grad."""
    total = 0.0
    with torch.no_grad():
        for lo in range(0, len(examples), batch_size):
            rows = list(examples[lo : lo + batch_size])
            hidden = _pad_hidden(list(cached[lo : lo + batch_size]))
            total += float(batch_loss(hidden, rows)) * len(rows)
    return total / max(1, len(examples))


def predict(
    split: SplitModel,
    examples: Sequence[Example],
    cached: Sequence[torch.Tensor],
    label_ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 32,
) -> torch.Tensor:
    """(examples x labels) label scores, input order, no grad."""
    out = []
    with torch.no_grad():
        for lo in range(0, len(examples), batch_size):
            rows = list(examples[lo : lo + batch_size])
            hidden = _pad_hidden(list(cached[lo : lo + batch_size]))
            out.append(_scores(split, hidden, rows, label_ids))
    return torch.cat(out) if out else torch.zeros((0, len(label_ids)))


def fit_temperature(scores: torch.Tensor, targets: Sequence[int]) -> float:
    """The temperature in [0.5, 5] (step 0.05) that minimises the log-loss of ``scores``."""
    target = torch.tensor(list(targets))
    best_t, best_loss = 1.0, float("inf")
    for step in range(10, 101):
        t = step / 20
        loss = float(torch.nn.functional.cross_entropy(scores / t, target))
        if loss < best_loss:
            best_t, best_loss = t, loss
    return best_t
