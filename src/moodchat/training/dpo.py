"""The chat adapter's preference step (DPO) against misreadings, on the PEFT model.

Contract:
- Pairs come from ``data/preference`` (``moodchat.training.preference.load_pairs``): the
  conversation so far, the user message, a written good reply (*chosen*) and a bad one
  (*rejected*: the mood read backwards, the facts misread, the worry belittled); plus
  the model's own replies a reader judged bad (``load_own_pairs``), where there are any.
- Each side is one ``TokenExample`` in the serving form (the chat prompt's prefix in the
  pair's language, the earlier turns, the user turn, the reply and its end token), the
  learned positions being the reply's tokens; the oldest earlier turns are dropped first
  when it does not fit ``max_tokens``.
- ``preference_stage(config, split, peft_model, template, prompt, report)`` runs DPO
  (Rafailov et al. 2023) starting from the adapter as it stands, which is also the
  reference: the reference log-probabilities are computed once, before the first step.
  Loss ``-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))`` over summed reply
  log-probs, plus ``preference_nll`` times the chosen replies' mean per-token negative
  log-likelihood (the RPO loss of Pang et al. 2024): plain DPO lowers both sides'
  likelihood and, measured on the shipped adapter, left it writing degenerate text.
  A seeded 10% of the pairs is held out; returns ``(metrics, provenance record)`` with,
  on held-out pairs, how often the chosen reply has the higher mean log-prob per token
  before and after, both sides' mean per-token log-prob before and after (a falling
  chosen side warns of that collapse), and the DPO reward accuracy after (on the held-out
  and on the training pairs).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

import torch

from moodchat.roles.chat import chat_prefix_tokens
from moodchat.training.base import Report, cached_lower
from moodchat.training.lora import TokenExample, _length_batches, _pad_hidden
from moodchat.training.preference import load_own_pairs, load_pairs, slice_names
from moodchat.weights.pull import sha256_file

HELDOUT_SHARE = 0.1


def reply_example(template, prompt, max_tokens: int, pair: dict, reply: str) -> TokenExample:
    """One side of a pair in the serving form; learned positions are the reply's."""
    prefix = chat_prefix_tokens(template, prompt, pair["lang"])
    tail = template.turn("user", pair["user"]) + template.open_turn("assistant")
    body = template.text(reply) + [template.im_end]
    turns = [template.turn(m["role"], m["content"]) for m in pair["context"]]
    while turns and len(prefix) + sum(map(len, turns)) + len(tail) + len(body) > max_tokens:
        turns = turns[2:]  # the oldest exchange first
    tokens = prefix + [t for turn in turns for t in turn] + tail
    targets = tuple(range(len(tokens) - 1, len(tokens) + len(body) - 1))
    return TokenExample(tuple(tokens + body), targets)


def sequence_logps(split, hidden: torch.Tensor, rows: Sequence[TokenExample]) -> torch.Tensor:
    """Summed log-probability of each row's learned tokens (one value per row)."""
    states = split.upper_states(hidden)
    row_idx = torch.tensor([b for b, r in enumerate(rows) for _ in r.targets])
    pos_idx = [p for r in rows for p in r.targets]
    nxt = torch.tensor([r.tokens[p + 1] for r in rows for p in r.targets])
    logits = (states[row_idx, pos_idx] @ split.head.T).float()
    token_lp = torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1)
    return torch.zeros(len(rows)).index_add(0, row_idx, token_lp)


def _logps(split, examples, cached, batch: int = 8) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for lo in range(0, len(examples), batch):
            rows = examples[lo : lo + batch]
            out.append(sequence_logps(split, _pad_hidden(cached[lo : lo + batch]), rows))
    return torch.cat(out) if out else torch.zeros(0)


def dpo_loss(pc, pr, rc, rr, beta: float) -> torch.Tensor:
    """Mean DPO loss of policy (pc, pr) against reference (rc, rr) log-probs."""
    return -torch.nn.functional.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


def per_token(lp: torch.Tensor, rows: Sequence[TokenExample]) -> torch.Tensor:
    """Each row's summed log-prob divided by its number of learned tokens."""
    return lp / torch.tensor([len(r.targets) for r in rows], dtype=lp.dtype)


def chosen_nll(pc: torch.Tensor, rows: Sequence[TokenExample]) -> torch.Tensor:
    """Mean over pairs of the chosen reply's per-token negative log-likelihood."""
    return -per_token(pc, rows).mean()


def _mean_per_token(lp: torch.Tensor, rows: Sequence[TokenExample]) -> float:
    if not rows:
        return 0.0
    return round(float(per_token(lp, rows).mean()), 4)


def _held(pair_id: str) -> bool:
    return int(hashlib.sha256(pair_id.encode()).hexdigest(), 16) % 100 < HELDOUT_SHARE * 100


def _per_token_preference(lp_c, lp_r, chosen, rejected) -> float:
    if not chosen:
        return 0.0
    return round(float((per_token(lp_c, chosen) > per_token(lp_r, rejected)).float().mean()), 4)


def _reward_accuracy(pc, pr, rc, rr) -> float:
    """Share of pairs whose chosen reply gained more log-prob than the rejected one."""
    if len(pc) == 0:
        return 0.0
    return round(float(((pc - rc) > (pr - rr)).float().mean()), 4)


def _train_dpo(
    config, split, peft_model, chosen, rejected, cached_c, cached_r, ref, report: Report
) -> float:
    """The DPO epochs, each step reported; returns the last epoch's mean loss."""
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.preference_lr, weight_decay=0.0)
    rng = random.Random(config.seed)
    lengths = [len(c.tokens) + len(r.tokens) for c, r in zip(chosen, rejected)]
    size = max(1, config.batch_size // 2)
    mean, done, planned = 0.0, 0, len(chosen) * config.preference_epochs
    peft_model.train()
    for _ in range(config.preference_epochs):
        total, seen = 0.0, 0
        for batch in _length_batches(lengths, size, rng):
            rows = [chosen[i] for i in batch] + [rejected[i] for i in batch]
            hidden = _pad_hidden([cached_c[i] for i in batch] + [cached_r[i] for i in batch])
            lp = sequence_logps(split, hidden, rows)
            pc, pr = lp[: len(batch)], lp[len(batch) :]
            loss = dpo_loss(pc, pr, ref[0][batch], ref[1][batch], config.preference_beta)
            if config.preference_nll:
                nll = chosen_nll(pc, rows[: len(batch)])
                loss = loss + config.preference_nll * nll
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            opt.step()
            total += loss.item() * len(batch)
            seen += len(batch)
            done += len(batch)
            report("preference training", done, planned, f"loss {total / seen:.4f}")
        mean = total / max(1, seen)
    peft_model.eval()
    return mean


def pairs_record(directory: Path, n_pairs: int) -> dict:
    """Provenance of the pairs: slice and batch files with sha256, pairs used."""
    files = {
        f"{kind}/{name}.jsonl": sha256_file(directory / kind / f"{name}.jsonl")
        for name in slice_names(directory)
        for kind in ("slices", "batches")
    }
    files |= {
        str(path.relative_to(directory)): sha256_file(path)
        for path in sorted((directory / "own").glob("*.jsonl"))
        if not path.name.endswith(".todo.jsonl")
    }
    return {"preference": "data/preference (written for moodchat)", "files": files,
            "pairs": n_pairs, "written_for_moodchat": True}  # fmt: skip


def preference_stage(config, split, peft_model, template, prompt, report: Report):
    """DPO on the written pairs from the adapter as trained so far; (metrics, record)."""
    directory = Path(config.preference)
    pairs = load_pairs(directory) + load_own_pairs(directory)
    sides = {
        name: [reply_example(template, prompt, config.max_tokens, p, p[name]) for p in pairs]
        for name in ("chosen", "rejected")
    }
    cached = {
        name: cached_lower(config, split, ex, report, stage=f"preference {name}", store=False)
        for name, ex in sides.items()
    }
    held = [i for i, p in enumerate(pairs) if _held(p["pair_id"])]
    train = [i for i, p in enumerate(pairs) if not _held(p["pair_id"])]

    def subset(name, idx):
        return [sides[name][i] for i in idx], [cached[name][i] for i in idx]

    (hc, hcc), (hr, hrc) = subset("chosen", held), subset("rejected", held)
    before_c, before_r = _logps(split, hc, hcc), _logps(split, hr, hrc)
    (tc, tcc), (tr, trc) = subset("chosen", train), subset("rejected", train)
    ref = (_logps(split, tc, tcc), _logps(split, tr, trc))
    loss = _train_dpo(config, split, peft_model, tc, tr, tcc, trc, ref, report)
    after_c, after_r = _logps(split, hc, hcc), _logps(split, hr, hrc)
    train_c, train_r = _logps(split, tc, tcc), _logps(split, tr, trc)
    metrics = {
        "pairs_train": len(train),
        "pairs_heldout": len(held),
        "last_epoch_loss": round(loss, 4),
        "heldout_chosen_preferred_before": _per_token_preference(before_c, before_r, hc, hr),
        "heldout_chosen_preferred_after": _per_token_preference(after_c, after_r, hc, hr),
        "heldout_reward_accuracy_after": _reward_accuracy(after_c, after_r, before_c, before_r),
        "heldout_chosen_logp_per_token": [_mean_per_token(x, hc) for x in (before_c, after_c)],
        "heldout_rejected_logp_per_token": [_mean_per_token(x, hr) for x in (before_r, after_r)],
        "train_reward_accuracy_after": _reward_accuracy(train_c, train_r, *ref),
    }
    return metrics, pairs_record(directory, len(pairs))
