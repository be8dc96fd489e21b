"""The sentiment analyst role: label-word logits after a cached role prefix.

Contract:
- At construction the role prefix (system prompt, the prompt's examples, and the opening
  of the user turn) is evaluated once with ``Engine.cache_prefix``; each text then costs
  one forward pass over its own tokens plus the few that close the user turn and open the
  assistant's. Nothing is decoded or parsed.
- The answer words come from the prompt data (``SentimentPrompt.answer``). A label's score
  is the probability mass of the first tokens of its answer word (for example ``负面``
  and ``负``, since the model may spell the word as one token or begin it with a shorter
  one); ``confidence`` is the chosen label's share of the two labels' mass.
- With ``calibrate`` set, the label bias measured on content-free inputs is divided out
  ("Calibrate Before Use", Zhao et al. 2021).
- Texts longer than ``max_input_tokens`` keep their head and tail (``truncated=True``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from moodchat.engine.base import Engine
from moodchat.inputs import clean_text, head_tail
from moodchat.prompts import SentimentPrompt
from moodchat.template import ChatML
from moodchat.types import LABELS, Sentiment

DEFAULT_MAX_INPUT_TOKENS = 256


def label_token_ids(engine: Engine, word: str) -> list[int]:
    """Token ids that can start ``word`` as an answer.

    The word's first token, plus the token of its first character when that is not ASCII:
    a model may write ``负面`` as one token or as ``负`` then ``面``.
    """
    ids = {engine.tokenize(word)[0]}
    if not word[0].isascii():
        ids.add(engine.tokenize(word[0])[0])
    return sorted(ids)


class SentimentRole:
    """Labels texts ``positive`` or ``negative`` with a confidence."""

    def __init__(
        self,
        engine: Engine,
        template: ChatML,
        prompt: SentimentPrompt,
        *,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
    ) -> None:
        self.engine = engine
        self.template = template
        self.prompt = prompt
        self.max_input_tokens = max_input_tokens
        self.label_ids = self._label_ids()
        self.prefix = engine.cache_prefix(self._prefix_tokens())
        self.log_bias = np.zeros(len(LABELS))
        if prompt.calibrate:
            self.log_bias = self._content_free_bias()

    def _label_ids(self) -> list[list[int]]:
        ids = [label_token_ids(self.engine, self.prompt.answer(lab)) for lab in LABELS]
        shared = set(ids[0]) & set(ids[1])
        ids = [[i for i in group if i not in shared] for group in ids]
        if not all(ids):
            raise ValueError(f"prompt {self.prompt.name!r}: answer words share their first token")
        return ids

    def _prefix_tokens(self) -> list[int]:
        t = self.template
        tokens = t.turn("system", self.prompt.system)
        for ex in self.prompt.examples:
            tokens += t.turn("user", ex.text) + t.turn("assistant", self.prompt.answer(ex.label))
        return tokens + t.open_turn("user")

    def _request_tokens(self, text: str) -> tuple[list[int], bool]:
        body, truncated = head_tail(self.template.text(text), self.max_input_tokens)
        return body + self.template.reply_start(), truncated

    def _content_free_bias(self) -> np.ndarray:
        batch = [self._request_tokens(t)[0] for t in self.prompt.content_free_inputs]
        probs = np.mean([self._label_probs(lg, np.zeros(2)) for lg in self._score(batch)], axis=0)
        return np.log(probs)

    def _score(self, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        if len(batch) == 1:
            return [self.engine.next_logits(self.prefix, batch[0])]
        return self.engine.next_logits_many(self.prefix, batch)

    def _label_probs(self, logits: np.ndarray, log_bias: np.ndarray) -> np.ndarray:
        """Probabilities of (positive, negative) from next-token logits."""
        top = float(np.max(logits))
        mass = np.array([np.exp(logits[ids] - top).sum() for ids in self.label_ids])
        scores = np.log(np.maximum(mass, 1e-30)) - log_bias
        p = np.exp(scores - scores.max())
        return p / p.sum()

    def _result(self, logits: np.ndarray, n_tokens: int, truncated: bool, ms: float) -> Sentiment:
        p = self._label_probs(logits, self.log_bias)
        best = int(np.argmax(p))
        return Sentiment(
            label=LABELS[best],
            confidence=round(float(p[best]), 4),
            probabilities={lab: round(float(x), 4) for lab, x in zip(LABELS, p)},
            truncated=truncated,
            n_tokens=n_tokens,
            latency_ms=round(ms, 2),
        )

    def analyze(self, text: str) -> Sentiment:
        """Label one text (validated with ``clean_text``)."""
        start = time.perf_counter()
        tokens, truncated = self._request_tokens(clean_text(text))
        logits = self._score([tokens])[0]
        return self._result(logits, len(tokens), truncated, (time.perf_counter() - start) * 1000)

    def analyze_many(self, texts: Sequence[str]) -> list[Sentiment]:
        """Label many texts, batched by the engine; raises on the first invalid text."""
        start = time.perf_counter()
        encoded = [self._request_tokens(clean_text(t)) for t in texts]
        if not encoded:
            return []
        logits = self._score([tokens for tokens, _ in encoded])
        per_item = (time.perf_counter() - start) * 1000 / len(encoded)
        return [
            self._result(lg, len(tokens), cut, per_item)
            for lg, (tokens, cut) in zip(logits, encoded)
        ]
