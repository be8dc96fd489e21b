"""``lora.train``'s step budget, on a fake model (one linear layer, no transformers).

Invariants: ``max_steps`` caps the optimizer steps across epochs, ``skip_steps`` resumes the
same seeded batch order where an earlier run stopped, the learning-rate decay
spans the steps taken (its last step runs at 1/(steps-1) of the peak, as a full run's does),
and the epoch losses cover only epochs that ran.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from moodchat.training.lora import TokenExample, train  # noqa: E402


class _Fake(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3, 1)


def _run(max_steps, monkeypatch, epochs=3, n=10, batch=2):
    model = _Fake()
    examples = [TokenExample((1, 2, 3), (0,)) for _ in range(n)]
    cached = [torch.randn(3, 3) for _ in range(n)]
    seen, lrs = [], []

    def loss(hidden, rows):
        return model.proj(hidden).pow(2).mean()

    def on_step(rows, running):
        seen.append(rows)

    original_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return original_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    losses = train(
        None, model, examples, cached, loss, epochs=epochs, batch_size=batch,
        lr=0.1, seed=0, on_step=on_step, max_steps=max_steps,
    )  # fmt: skip
    return losses, seen, lrs


def test_all_epochs_run_without_a_budget(monkeypatch):
    losses, seen, lrs = _run(None, monkeypatch)
    assert len(losses) == 3 and len(seen) == 15 and sum(seen) == 30
    assert lrs[-1] == pytest.approx(0.1 / 14)


def test_max_steps_cuts_across_epochs(monkeypatch):
    losses, seen, lrs = _run(7, monkeypatch)
    assert len(seen) == 7  # 5 steps of the first epoch, 2 of the second
    assert len(losses) == 2
    assert lrs[-1] == pytest.approx(0.1 / 6)


def test_a_budget_above_the_epochs_changes_nothing(monkeypatch):
    assert _run(100, monkeypatch)[0] == _run(None, monkeypatch)[0]


def _batches(monkeypatch, **budget) -> list[tuple[int, ...]]:
    """The examples each optimizer step learned, by their first token."""
    model = _Fake()
    examples = [TokenExample((k, 2, 3), (0,)) for k in range(10)]
    cached = [torch.randn(3, 3) for _ in range(10)]
    batches = []

    def loss(hidden, rows):
        batches.append(tuple(r.tokens[0] for r in rows))
        return model.proj(hidden).pow(2).mean()

    train(None, model, examples, cached, loss, epochs=2, batch_size=2, lr=0.1, seed=0, **budget)
    return batches


def test_skip_steps_continues_the_same_seeded_order(monkeypatch):
    full = _batches(monkeypatch)
    assert _batches(monkeypatch, max_steps=3) == full[:3]
    assert _batches(monkeypatch, skip_steps=3) == full[3:]  # across the epoch boundary
    assert _batches(monkeypatch, skip_steps=3, max_steps=4) == full[3:7]
    assert _batches(monkeypatch, skip_steps=50) == []
