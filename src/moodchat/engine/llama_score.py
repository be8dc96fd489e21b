"""Coalesced scoring on llama.cpp: the queued scoring requests of every caller, few decodes.

Contract: ``score_requests(engine, requests)`` runs inside the engine's step lock (it is the
``score_all`` of the engine's ``scheduling.ScoreCoalescer``). Each request is a
``(prefix, [tokens, ...])`` pair; the answer is, per request, the list of logits after
``prefix + tokens`` for each of its continuations, or the exception for that request
alone (a continuation that cannot fit the context: ``ContextFullError``).
- Continuations are packed into rounds; a round is one ``llama_decode`` per adapter among
  them (one batch never mixes adapters) of at most ``SCORE_ROWS`` rows. In a round the first
  continuation of each prefix is decoded on the prefix's own sequence, after its last
  position; each further one on a spare sequence that starts as a copy of the prefix
  (metadata only in a unified KV cache). Spare sequences are taken without blocking, as
  many as are free: when none are, more rounds are run, never a wait (the step lock is
  held, so waiting for a sequence a generation frees under that lock would deadlock).
- A continuation longer than ``SCORE_ROWS`` is decoded alone, as a solo request would be
  (chunked by ``n_batch``), on its prefix's sequence.
- So every continuation gets the logits it gets when scored alone, bit for bit
  (tests/engine/test_llama_batching.py checks it). In this llama.cpp build a batch of 64
  rows or more takes another kernel path in which a row's logits depend on its neighbours:
  with the cap lifted, one run on the default prompt moved logits by up to 0.34 and a
  confidence by 0.0024, past the 1e-3 a coalesced verdict may differ from a solo one.
- After each round every token it added is removed again: prefixes are left as they were,
  spare sequences empty and returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from moodchat.engine.base import Prefix
from moodchat.engine.scheduling import context_errors

if TYPE_CHECKING:
    from moodchat.engine.llama import LlamaEngine

ScoreRequest = tuple[Prefix, list[list[int]]]
Item = tuple[int, int, Prefix, list[int]]  # request index, continuation index, prefix, tokens
Row = tuple[int, int, int, bool]  # token, position, sequence, want logits
SCORE_ROWS = 63


def score_requests(
    engine: LlamaEngine, requests: Sequence[ScoreRequest]
) -> list[list[np.ndarray] | Exception]:
    """Logits for every continuation of every request (see the module contract)."""
    out: list[list] = [[None] * len(batch) for _, batch in requests]
    errors = context_errors(requests, engine.n_ctx)
    items: list[Item] = [
        (r, j, prefix, tokens)
        for r, (prefix, batch) in enumerate(requests)
        if r not in errors
        for j, tokens in enumerate(batch)
    ]
    for r, j, prefix, tokens in (it for it in items if len(it[3]) > SCORE_ROWS):
        try:
            out[r][j] = engine._decode_run(tokens, prefix.handle, len(prefix))
        finally:
            engine._forget(prefix.handle, len(prefix))
    short = [it for it in items if len(it[3]) <= SCORE_ROWS]
    while short:
        short = _round(engine, short, out)
    return [errors.get(r, out[r]) for r in range(len(requests))]


def _round(engine: LlamaEngine, items: list[Item], out: list[list]) -> list[Item]:
    """Decode as many of ``items`` as one round holds; the ones left for the next round."""
    spare = engine._seqs.take_free(len(items))
    free = list(spare)
    rows: dict[int | None, list[Row]] = {}
    wanted: dict[int | None, list[tuple[int, int, int]]] = {}
    on_prefix: set[int] = set()
    placed: list[tuple[int, int]] = []  # (sequence, first position to remove afterwards)
    rest: list[Item] = []
    try:
        for item in items:
            r, j, prefix, tokens = item
            batch = rows.setdefault(prefix.adapter, [])
            if len(batch) + len(tokens) > SCORE_ROWS:
                rest.append(item)
                continue
            if prefix.handle not in on_prefix:
                on_prefix.add(prefix.handle)
                seq, first = prefix.handle, len(prefix)
            elif free:
                seq, first = free.pop(), -1
                engine._copy_prefix(prefix, seq)
            else:
                rest.append(item)
                continue
            placed.append((seq, first))
            batch += [(t, len(prefix) + k, seq, k == len(tokens) - 1) for k, t in enumerate(tokens)]
            wanted.setdefault(prefix.adapter, []).append((r, j, len(batch) - 1))
        for adapter, batch in rows.items():
            if batch:
                engine._decode(batch)
                for r, j, row in wanted[adapter]:
                    out[r][j] = engine._logits(row)
    finally:
        for seq, first in placed:
            engine._forget(seq, first)
        engine._seqs.give(*spare)
    return rest
