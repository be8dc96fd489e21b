"""Benchmark child ``naive-llama``: llama.cpp through moodchat's ``LlamaEngine``, no tricks.

Contract: loads the same GGUF with the same llama.cpp settings as moodchat (its
``LlamaEngine`` defaults: no weight repacking, n_batch 512, n_ubatch 128), then serves
every request the way a developer without moodchat's tricks would: the whole ChatML
prompt (system text, examples, message) is decoded on top of an empty prefix, so nothing
of the prompt is cached between requests; sentiment generates up to 5 tokens greedily and
parses the label (no label-word logits, no batching); chat samples up to
``max_new_tokens`` with moodchat's default ``SamplingParams``. Only the engine's public
methods are used (``cache_prefix`` of zero tokens, ``generate``, ``release_prefix``).
Prints one ``BENCH-RESULT`` JSON line with the same fields as the moodchat child.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from moodchat.evaluation.bench.workload import (
    BenchConfig,
    Recorder,
    baseline_chat,
    baseline_sentiment,
)

if TYPE_CHECKING:
    from moodchat.engine.base import Engine, Prefix

RunPrompt = Callable[[str, int, bool], tuple[list[int], float, float]]


def run(config: BenchConfig, start_rss: int) -> None:
    rec = Recorder("naive-llama", start_rss)
    from moodchat.engine.llama import LlamaEngine
    from moodchat.evaluation.bench.naive import chat_prompt_text
    from moodchat.weights.models import resolve_model

    rec.memory("after_tokenizer")
    rec.progress("loading the model (moodchat's LlamaEngine, no prefix cache)")
    t0 = time.perf_counter()
    engine = LlamaEngine(resolve_model(config.model), threads=config.threads, warm_up=False)
    rec.put("load_s", round(time.perf_counter() - t0, 2))
    rec.put("cold_start_s", round(time.time() - config.spawned_at, 2))
    rec.memory("after_load")
    run_prompt, empty = prompt_runner(engine)

    def decode(out: list[int]) -> str:
        return b"".join(engine.token_bytes(t) for t in out).decode("utf-8", "replace")

    baseline_sentiment(config, rec, run_prompt, decode)
    rec.memory("peak_sentiment", peak=True)
    baseline_chat(
        config, rec, lambda m: run_prompt(chat_prompt_text(m), config.max_new_tokens, False)
    )
    rec.memory("peak_chat", peak=True)
    rec.finish()
    engine.release_prefix(empty)
    engine.close()


def prompt_runner(engine: Engine) -> tuple[RunPrompt, Prefix]:
    """``run_prompt(prompt, max_tokens, greedy)`` -> (tokens, first_ms, total_ms).

    Each call decodes the whole prompt after a prefix of zero tokens (the returned
    ``Prefix``, to release at the end), stops at the end of the turn, never caches.
    """
    from moodchat.engine.sampling import GREEDY, SamplingParams
    from moodchat.evaluation.bench.naive import chatml_tokens

    empty = engine.cache_prefix([])
    stops = frozenset({engine.control_token("<|im_end|>")})
    sampled = SamplingParams()

    def run_prompt(prompt: str, max_tokens: int, greedy: bool) -> tuple[list[int], float, float]:
        tokens = chatml_tokens(engine, prompt)
        start, first, out = time.perf_counter(), None, []
        for tok in engine.generate(
            empty, tokens, max_new_tokens=max_tokens,
            sampling=GREEDY if greedy else sampled, stop_tokens=stops,
        ):  # fmt: skip
            first = first or time.perf_counter()
            out.append(tok)
        end = time.perf_counter()
        return out, ((first or end) - start) * 1000, (end - start) * 1000

    return run_prompt, empty
