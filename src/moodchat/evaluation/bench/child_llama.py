"""Benchmark child ``naive-llama-highlevel``: ``llama_cpp.Llama`` (high-level), no caching.

Opt-in only (``--baseline naive-llama-highlevel``): an issue reported ``Llama.eval`` /
``generate`` crashing with SIGSEGV inside ``_internals.decode`` on this machine (not
reproduced since; see docs/benchmarks.md), and ``moodchat bench`` fails loudly if it does.
It loads with the high-level defaults (weight repacking on, n_ubatch 512), unlike
moodchat's engine; ``naive-llama`` is the same naive workload on moodchat's engine.

Contract: every message has its whole prompt (role prompt + message) evaluated from an
empty cache (``Llama.reset`` before each call); sentiment generates up to 5 tokens
greedily and parses the label; chat samples up to ``max_new_tokens`` tokens with
temperature 0.7, top-p 0.8, top-k 20 and repeat penalty 1.05 (moodchat's defaults without
min-p and DRY). Prints one ``BENCH-RESULT`` JSON line with the same
fields as the moodchat child.
"""

from __future__ import annotations

import time

from moodchat.evaluation.bench.workload import (
    BenchConfig,
    Recorder,
    baseline_chat,
    baseline_sentiment,
)


def run(config: BenchConfig, start_rss: int) -> None:
    rec = Recorder("naive-llama-highlevel", start_rss)
    import llama_cpp

    from moodchat.engine.hardware import physical_cores
    from moodchat.evaluation.bench.naive import chat_prompt_text
    from moodchat.weights.models import resolve_model

    rec.memory("after_tokenizer")
    rec.progress("loading the model")
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        resolve_model(config.model),
        n_ctx=3072,
        n_threads=config.threads or physical_cores(),
        verbose=False,
    )
    rec.put("load_s", round(time.perf_counter() - t0, 2))
    rec.put("cold_start_s", round(time.time() - config.spawned_at, 2))
    rec.memory("after_load")
    stops = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)}

    def run_prompt(prompt: str, max_tokens: int, greedy: bool) -> tuple[list[int], float, float]:
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        kw = {"temp": 0.0} if greedy else {"temp": 0.7, "top_p": 0.8, "top_k": 20}
        start, first, out = time.perf_counter(), None, []
        for tok in llm.generate(tokens, repeat_penalty=1.0 if greedy else 1.05, **kw):
            if tok in stops:
                break
            first = first or time.perf_counter()
            out.append(tok)
            if len(out) >= max_tokens:
                break
        end = time.perf_counter()
        return out, ((first or end) - start) * 1000, (end - start) * 1000

    baseline_sentiment(
        config, rec, run_prompt, lambda out: llm.detokenize(out).decode("utf-8", "replace")
    )
    rec.memory("peak_sentiment", peak=True)
    baseline_chat(
        config, rec, lambda m: run_prompt(chat_prompt_text(m), config.max_new_tokens, False)
    )
    rec.memory("peak_chat", peak=True)
    rec.finish()
    llm.close()
