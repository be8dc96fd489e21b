"""The sentiment analyst role: label-word logits after a cached role prefix.

Contract:
- At construction the role prefix (system prompt, the prompt's examples, and the opening
  of the user turn) is evaluated once with ``Engine.cache_prefix``; each text then costs
  one forward pass over its own tokens plus the few that close the user turn and open the
  assistant's. Nothing is decoded or parsed.
- The answer words come from the prompt data (``SentimentPrompt.answer``). A label's score
  is the probability mass of the first tokens of its answer word (for example ``负面``
  and ``负``, since the model may spell the word as one token or begin it with a shorter
  one); ``confidence`` is the chosen label's share of the labels' mass.
- Labels: a prompt with a ``neutral`` answer word is read three ways; ``labels="binary"``
  reads the same pass as the seed's two labels (softmax over positive and negative only,
  so the label is the argmax of the two). A prompt with two answer words is always binary.
- Context: ``analyze(text, context=prev)`` reads the previous user turn (head and tail,
  at most ``CONTEXT_TOKENS``) between two fixed markers before the text, so "she was with
  me for 15 years" after "my cat died" is read in its conversation; ``context_turn``
  (this module, the one place) builds those tokens for serving and training alike.
- With ``calibrate`` set, the label bias measured on content-free inputs is divided out
  ("Calibrate Before Use", Zhao et al. 2021).
- The prompt's ``temperature`` divides the labels' log-scores before the softmax
  (temperature scaling, Guo et al. 2017): it changes the confidence, never the label.
- With ``adapter`` (an ``Engine.load_adapter`` handle) every prefix is cached with that
  LoRA adapter on, so every text is scored with it; the read-out is unchanged.
- ``Sentiment.crisis`` marks texts about self-harm or suicide (``roles.safety``, a rule).
- Texts longer than ``max_input_tokens`` keep their head and tail (``truncated=True``).
- A prompt with per-language variants (``SentimentPrompt.languages``) gets one cached prefix,
  label-word set and calibration per language; each text goes to its language's variant
  (``moodchat.inputs.pick_language``), the others to the top-level one. An ``answer_prefix``
  is appended after the assistant turn opens, so it costs its few tokens per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from moodchat.engine.base import Engine, Prefix
from moodchat.inputs import clean_text, head_tail, pick_language
from moodchat.prompts import SentimentPrompt
from moodchat.roles.safety import mentions_self_harm
from moodchat.template import ChatML
from moodchat.types import BINARY_LABELS, LABEL_SETS, Sentiment

DEFAULT_MAX_INPUT_TOKENS = 256
CONTEXT_TOKENS = 48
CONTEXT_OPEN = "[上一条 previous] "
CONTEXT_CLOSE = "\n[这一条 this message] "


def label_token_ids(engine: Engine, word: str) -> list[int]:
    """Token ids that can start ``word`` as an answer.

    The word's first token, plus the token of its first character when that is not ASCII:
    a model may write ``负面`` as one token or as ``负`` then ``面``.
    """
    ids = {engine.tokenize(word)[0]}
    if not word[0].isascii():
        ids.add(engine.tokenize(word[0])[0])
    return sorted(ids)


class _Variant:
    """One language's cached prefix, answer-token ids and label bias."""

    def __init__(self, role: SentimentRole, prompt: SentimentPrompt) -> None:
        self.prompt = prompt
        self.label_ids = answer_ids(role.engine, prompt)
        self.prefix = role.engine.cache_prefix(
            prefix_tokens(role.template, prompt), adapter=role.adapter
        )
        self.log_bias = np.zeros(len(prompt.labels))


def answer_ids(engine: Engine, prompt: SentimentPrompt) -> list[list[int]]:
    """Answer-token ids per label of the prompt (``prompt.labels`` order), none shared."""
    ids = [label_token_ids(engine, prompt.answer(lab)) for lab in prompt.labels]
    counts: dict[int, int] = {}
    for group in ids:
        for i in group:
            counts[i] = counts.get(i, 0) + 1
    ids = [[i for i in group if counts[i] == 1] for group in ids]
    if not all(ids):
        raise ValueError(f"prompt {prompt.name!r}: answer words share their first token")
    return ids


def _answer_prefix(t: ChatML, prompt: SentimentPrompt) -> list[int]:
    """Tokens the assistant turn starts with before the answer word (often none)."""
    return t.text(prompt.answer_prefix) if prompt.answer_prefix else []


def prefix_tokens(t: ChatML, prompt: SentimentPrompt) -> list[int]:
    """The cached part: system prompt, the prompt's examples, the opening of the user turn."""
    tokens = t.turn("system", prompt.system)
    for ex in prompt.examples:
        reply = _answer_prefix(t, prompt) + t.text(prompt.answer(ex.label))
        tokens += t.turn("user", ex.text) + t.turn("assistant", reply)
    return tokens + t.open_turn("user")


def context_turn(t: ChatML, context: str | None) -> list[int]:
    """The previous user turn as the analyst reads it before the text (none: no tokens)."""
    if not context:
        return []
    body, _ = head_tail(t.text(context), CONTEXT_TOKENS)
    return t.text(CONTEXT_OPEN) + body + t.text(CONTEXT_CLOSE)


def request_tokens(
    t: ChatML,
    prompt: SentimentPrompt,
    text: str,
    max_input_tokens: int,
    context: str | None = None,
) -> tuple[list[int], bool]:
    """Per-text tokens after the prefix (head and tail if too long) and whether it was cut."""
    body, truncated = head_tail(t.text(text), max_input_tokens)
    tokens = context_turn(t, context) + body
    return tokens + t.reply_start() + _answer_prefix(t, prompt), truncated


class SentimentRole:
    """Labels texts ``positive``, ``negative`` or ``neutral`` with a confidence."""

    def __init__(
        self,
        engine: Engine,
        template: ChatML,
        prompt: SentimentPrompt,
        *,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        adapter: int | None = None,
        labels: str = "three",
    ) -> None:
        if labels not in LABEL_SETS:
            raise ValueError(f"labels must be one of {LABEL_SETS}, not {labels!r}")
        self.binary = labels == "binary" or "neutral" not in prompt.labels
        self.engine = engine
        self.adapter = adapter
        self.template = template
        self.prompt = prompt
        self.max_input_tokens = max_input_tokens
        self.variants: dict[str, _Variant] = {}
        try:
            for lang, sub in prompt.languages:
                self.variants[lang] = _Variant(self, sub)
            # Every text is zh or en: with both listed, English is also the fallback.
            both = {"zh", "en"} <= set(self.variants)
            self.variants[""] = self.variants["en"] if both else _Variant(self, prompt)
            if prompt.calibrate:
                for v in self._distinct():
                    v.log_bias = self._content_free_bias(v)
        except BaseException:
            self.release()
            raise

    @property
    def prefix(self) -> Prefix:
        """The fallback variant's cached prefix."""
        return self.variants[""].prefix

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels this role answers: three, or the binary two."""
        return BINARY_LABELS if self.binary else self.prompt.labels

    @property
    def label_ids(self) -> list[list[int]]:
        """The fallback variant's answer-token ids, in ``prompt.labels`` order."""
        return self.variants[""].label_ids

    @property
    def log_bias(self) -> np.ndarray:
        """The fallback variant's calibration bias (zeros without calibration)."""
        return self.variants[""].log_bias

    def _distinct(self) -> list[_Variant]:
        return list({id(v): v for v in self.variants.values()}.values())

    def prefixes(self) -> list[Prefix]:
        """Every prefix this role keeps cached (one per language variant)."""
        return [v.prefix for v in self._distinct()]

    def prefix_tokens(self) -> int:
        """Tokens of the largest cached prefix (evaluated once, not per request)."""
        return max(len(p) for p in self.prefixes())

    def release(self) -> None:
        """Free the cached prefixes on engines that can (the role is unusable afterwards)."""
        for v in self._distinct():
            self.engine.release_prefix(v.prefix)
        self.variants = {}

    def _variant(self, text: str) -> _Variant:
        return self.variants[self._variant_key(text)]

    def _request_tokens(
        self, text: str, variant: _Variant | None = None, context: str | None = None
    ) -> tuple[list[int], bool]:
        v = variant or self._variant(text)
        return request_tokens(self.template, v.prompt, text, self.max_input_tokens, context)

    def _content_free_bias(self, v: _Variant) -> np.ndarray:
        batch = [self._request_tokens(t, v)[0] for t in self.prompt.content_free_inputs]
        logits = self._score(v, batch)
        zero = np.zeros(len(v.label_ids))
        probs = np.mean([self._label_probs(v.label_ids, lg, zero, 1.0) for lg in logits], axis=0)
        return np.log(probs)

    def _score(self, v: _Variant, batch: Sequence[Sequence[int]]) -> list[np.ndarray]:
        if len(batch) == 1:
            return [self.engine.next_logits(v.prefix, batch[0])]
        return self.engine.next_logits_many(v.prefix, batch)

    @staticmethod
    def _label_probs(
        label_ids: Sequence[Sequence[int]],
        logits: np.ndarray,
        log_bias: np.ndarray,
        temperature: float,
    ) -> np.ndarray:
        """Probabilities per label of the prompt (``prompt.labels`` order) from logits."""
        top = float(np.max(logits))
        mass = np.array([np.exp(logits[ids] - top).sum() for ids in label_ids])
        scores = (np.log(np.maximum(mass, 1e-30)) - log_bias) / temperature
        p = np.exp(scores - scores.max())
        return p / p.sum()

    def _result(
        self,
        v: _Variant,
        text: str,
        logits,
        n_tokens: int,
        truncated: bool,
        ms: float,
        context_tokens: int = 0,
    ) -> Sentiment:
        # Binary reading keeps the first two (positive, negative) of the same pass.
        n = len(BINARY_LABELS) if self.binary else len(v.label_ids)
        labels = v.prompt.labels[:n]
        p = self._label_probs(v.label_ids[:n], logits, v.log_bias[:n], v.prompt.temperature)
        best = int(np.argmax(p))
        return Sentiment(
            label=labels[best],
            confidence=round(float(p[best]), 4),
            probabilities={lab: round(float(x), 4) for lab, x in zip(labels, p)},
            truncated=truncated,
            n_tokens=n_tokens,
            latency_ms=round(ms, 2),
            crisis=mentions_self_harm(text),
            context_tokens=context_tokens,
        )

    def analyze(self, text: str, context: str | None = None) -> Sentiment:
        """Label one text (validated with ``clean_text``), after ``context`` if given."""
        start = time.perf_counter()
        text = clean_text(text)
        context = clean_text(context) if context else None
        v = self._variant(text)
        tokens, truncated = self._request_tokens(text, v, context)
        logits = self._score(v, [tokens])[0]
        ms = (time.perf_counter() - start) * 1000
        n_context = len(context_turn(self.template, context))
        return self._result(v, text, logits, len(tokens), truncated, ms, n_context)

    def analyze_many(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> list[Sentiment]:
        """Label many texts (each after its context, if given), batched by the engine per
        variant, in input order; raises on the first invalid text."""
        start = time.perf_counter()
        cleaned = [clean_text(t) for t in texts]
        if not cleaned:
            return []
        if contexts is not None and len(contexts) != len(cleaned):
            raise ValueError("contexts must be as many as texts")
        prev = [clean_text(c) if c else None for c in contexts or [None] * len(cleaned)]
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(cleaned):
            groups.setdefault(self._variant_key(text), []).append(i)
        scored: list = [None] * len(cleaned)
        for key, idx in groups.items():
            v = self.variants[key]
            encoded = [self._request_tokens(cleaned[i], v, prev[i]) for i in idx]
            logits = self._score(v, [tokens for tokens, _ in encoded])
            for i, lg, (tokens, cut) in zip(idx, logits, encoded):
                scored[i] = (v, lg, len(tokens), cut)
        per_item = (time.perf_counter() - start) * 1000 / len(cleaned)
        return [
            self._result(v, text, lg, n, cut, per_item, len(context_turn(self.template, c)))
            for text, c, (v, lg, n, cut) in zip(cleaned, prev, scored)
        ]

    def _variant_key(self, text: str) -> str:
        return pick_language(text, self.variants, fallback="")
