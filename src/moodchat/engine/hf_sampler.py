"""transformers' logits processors for one reply: the transformers backend's ``TokenSampler``.

Contract:
- ``HFSampler(params, n_ctx, context)`` turns ``sampling.sampler_stages(params)`` into
  transformers processors, in the same order as llama.cpp's chain (``processors_for``):
  ``penalties`` -> ``RepetitionPenaltyLogitsProcessor`` (and ``CountPenaltyLogitsProcessor``,
  OpenAI-style frequency and presence penalties, which transformers lacks), ``top_k`` ->
  ``TopKLogitsWarper``, ``top_p`` -> ``TopPLogitsWarper``, ``min_p`` -> ``MinPLogitsWarper``,
  ``temperature`` -> ``TemperatureLogitsWarper``; ``dist`` draws from the softmax with a
  ``torch.Generator`` seeded with the stage's seed, ``greedy`` is the arg-max.
- The penalties see the last ``penalty_last_n`` tokens of the whole context: the
  ``context`` given at construction (the prompt, history included), then every accepted
  token.
- transformers (5.x) has no DRY processor, so the ``dry`` stage is skipped on this backend
  (``SKIPPED``): the one difference from llama.cpp's chain. Seeds give reproducible replies
  per backend, not the same reply on both (each backend has its own random generator).
- ``pick`` never changes the logits it is given; ``close`` drops the history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from moodchat.engine.sampling import SamplingParams, Stage, sampler_stages

SKIPPED = frozenset({"dry"})  # stages transformers has no processor for


class CountPenaltyLogitsProcessor(LogitsProcessor):
    """Subtract ``frequency`` per occurrence in ``input_ids``, ``presence`` once (as llama.cpp)."""

    def __init__(self, frequency: float, presence: float) -> None:
        self.frequency = frequency
        self.presence = presence

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        counts = torch.zeros_like(scores)
        counts.scatter_add_(1, input_ids, torch.ones_like(input_ids, dtype=scores.dtype))
        return scores - counts * self.frequency - (counts > 0).to(scores.dtype) * self.presence


def processors_for(stages: Sequence[Stage]) -> LogitsProcessorList:
    """The transformers processors for the chain's stages, in order (draws excluded)."""
    out = LogitsProcessorList()
    for name, a in stages:
        if name == "penalties":
            if a["repeat"] != 1.0:
                out.append(RepetitionPenaltyLogitsProcessor(float(a["repeat"])))
            if a["frequency"] != 0.0 or a["presence"] != 0.0:
                out.append(CountPenaltyLogitsProcessor(a["frequency"], a["presence"]))
        elif name == "top_k":
            out.append(TopKLogitsWarper(int(a["k"])))
        elif name == "top_p":
            out.append(TopPLogitsWarper(float(a["p"])))
        elif name == "min_p":
            out.append(MinPLogitsWarper(float(a["p"])))
        elif name == "temperature":
            out.append(TemperatureLogitsWarper(float(a["t"])))
        elif name not in SKIPPED | {"dist", "greedy"}:
            raise ValueError(f"no transformers processor for the {name!r} stage")
    return out


class HFSampler:
    """One reply's sampler on transformers processors (see the module contract)."""

    def __init__(self, params: SamplingParams, n_ctx: int, context: Sequence[int] = ()) -> None:
        self.stages = sampler_stages(params, n_ctx=n_ctx)
        self.processors = processors_for(self.stages)
        draw = {s.name: s.args for s in self.stages}
        self._greedy = "greedy" in draw
        self._generator = torch.Generator()
        if "dist" in draw:
            self._generator.manual_seed(int(draw["dist"]["seed"]))
        window = int(draw.get("penalties", {}).get("last_n", 0))
        self._history: deque[int] = deque(maxlen=window)
        self._history.extend(context)

    def accept(self, token: int) -> None:
        self._history.append(int(token))

    def pick(self, logits: np.ndarray) -> int:
        if self._greedy:
            return int(np.argmax(logits))
        scores = torch.tensor(logits, dtype=torch.float32).unsqueeze(0)
        ids = torch.tensor([list(self._history)], dtype=torch.long)
        scores = self.processors(ids, scores)
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs[0], 1, generator=self._generator).item())

    def close(self) -> None:
        self._history.clear()
