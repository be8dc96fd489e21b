"""A causal LM cut in two: frozen lower layers run once, trainable upper layers per step.

Contract:
- ``SplitModel(model, top_layers)`` wraps a transformers decoder-only model (Qwen2 family:
  ``model.model.embed_tokens``, ``.layers``, ``.norm``, ``.rotary_emb``). The lower
  ``n_layers - top_layers`` layers are never trained, so their output for a text never
  changes: ``lower(ids)`` computes it once, without grad, for right-padded rows.
- ``upper_last(hidden, last)`` runs the top layers (which may carry LoRA modules) on cached
  lower outputs and returns the final-norm hidden state at each row's ``last`` position;
  ``upper_states(hidden)`` returns it at every position.
- Rows are right-padded and attention is causal, so a row's real tokens never see its
  padding: no attention mask is needed, and results equal those of the unpadded row.
- ``compute="bfloat16"`` runs the layers' matrix products in bfloat16 (``torch.autocast``;
  weights, LoRA matrices, residual stream and outputs stay float32). On a CPU with
  AVX-512 BF16 that is about 3x the float32 speed (``scripts/training_speed.py`` here:
  1,054 against 312 tokens/s through 18 layers, 23.6 against 8.5 training examples/s at
  K=6); llama.cpp serves
  the same layers with 8-bit activations, so it adds no error the served model lacks.
  The default, ``"float32"``, is exact. Without native bfloat16 (``native_bfloat16()``
  false: no AVX-512 BF16 or AMX, e.g. an AVX2-only CPU) torch emulates it and it is far
  *slower* than float32 (the same script on an AVX2-only AMD EPYC: 0.1 against 3.7
  training examples/s at K=6).
- ``label_scores(final, label_ids)`` is the log of each label's next-token probability mass
  up to a per-row constant: ``logsumexp`` of the output-embedding logits of its answer
  tokens. The serving read-out (``moodchat.roles.sentiment``) compares the same quantities.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

COMPUTE_DTYPES = ("float32", "bfloat16")
_NATIVE_BF16_CHECKS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX)."""
    return any(getattr(torch.cpu, name, lambda: False)() for name in _NATIVE_BF16_CHECKS)


class SplitModel:
    """Lower (frozen, cached) and upper (trainable) halves of one decoder stack."""

    def __init__(self, model, top_layers: int, compute: str = "float32") -> None:
        if compute not in COMPUTE_DTYPES:
            raise ValueError(f"compute must be one of {COMPUTE_DTYPES}, not {compute!r}")
        self.compute = compute
        self.model = model
        self.inner = model.model
        self.n_layers = len(self.inner.layers)
        if not 1 <= top_layers <= self.n_layers:
            raise ValueError(f"top_layers must be in 1..{self.n_layers}, not {top_layers}")
        self.split = self.n_layers - top_layers
        self.head = model.get_output_embeddings().weight

    @property
    def upper_indices(self) -> list[int]:
        """Indices of the layers that are trained."""
        return list(range(self.split, self.n_layers))

    def _autocast(self):
        if self.compute == "float32":
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _run(self, hidden: torch.Tensor, layers: Sequence) -> torch.Tensor:
        with self._autocast():
            return self._run_layers(hidden, layers).float()

    def _run_layers(self, hidden: torch.Tensor, layers: Sequence) -> torch.Tensor:
        batch, width = hidden.shape[:2]
        positions = torch.arange(width).unsqueeze(0).expand(batch, -1)
        rope = self.inner.rotary_emb(hidden, positions)
        for layer in layers:
            out = layer(
                hidden, attention_mask=None, position_ids=positions, position_embeddings=rope
            )
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def lower(self, ids: torch.Tensor) -> torch.Tensor:
        """Input of the first trained layer for right-padded ``ids`` (rows x tokens)."""
        with torch.no_grad():
            hidden = self.inner.embed_tokens(ids)
            return self._run(hidden, self.inner.layers[: self.split])

    def upper_states(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states at every position (rows x tokens x hidden)."""
        return self.inner.norm(self._run(hidden, self.inner.layers[self.split :]))

    def upper_last(self, hidden: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden state at position ``last[i]`` of row ``i``."""
        out = self._run(hidden, self.inner.layers[self.split :])
        picked = out[torch.arange(out.shape[0]), last]
        return self.inner.norm(picked)

    def label_scores(self, final: torch.Tensor, label_ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """(rows x labels) log answer-token mass per label, up to a per-row constant."""
        cols = [torch.logsumexp(final @ self.head[list(ids)].T, dim=-1) for ids in label_ids]
        return torch.stack(cols, dim=-1)
