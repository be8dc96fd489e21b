"""Measure the two ways to serve a sentiment LoRA on llama.cpp (issue: sentiment adapter).

A. One context, the adapter switched per decode (what moodchat does): the cost is the time a
   sentiment request takes right after a chat step (adapter set changes twice) minus the
   time it takes after another sentiment request (no change).
B. A second context on the same model with the adapter always on: the cost is the RSS the
   second context adds (its KV cache and compute buffers).

Usage: python scripts/adapter_switch_cost.py [--runs 40]   (needs the shipped adapter)
"""

from __future__ import annotations

import argparse
import statistics
import time

from moodchat import Assistant
from moodchat.engine.hardware import mib, rss_bytes
from moodchat.engine.sampling import GREEDY

TEXTS = ["今天终于拿到offer了！", "难吃，再也不点了", "a delightful film", "the worst service ever"]


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def switch_cost(bot: Assistant, runs: int) -> dict:
    """Median sentiment latency after a sentiment request vs after a chat step."""
    chat_prefix = bot.chat.prefixes["en"]
    tokens = bot.template.text("hi") + bot.template.reply_start()
    same, switched = [], []
    for i in range(runs):
        text = TEXTS[i % len(TEXTS)]
        bot.analyze(text)
        same.append(_ms(lambda t=text: bot.analyze(t)))
        gen = bot.engine.generate(chat_prefix, tokens, max_new_tokens=1, sampling=GREEDY)
        list(gen)  # one chat step on the bare model: the context drops the adapter
        switched.append(_ms(lambda t=text: bot.analyze(t)))
    return {
        "after_sentiment_ms": round(statistics.median(same), 2),
        "after_chat_step_ms": round(statistics.median(switched), 2),
    }


def second_context_rss(bot: Assistant) -> dict:
    """RSS added by a second llama.cpp context on the same model, adapter on."""
    engine = bot.engine
    before = rss_bytes()
    ctx = engine._new_context(engine.n_ctx, engine.n_batch, 128, 8)
    lib = engine._lib
    ptrs = (lib.llama_adapter_lora_p_ctypes * 1)(next(iter(engine._adapters.values())))
    import ctypes

    lib.llama_set_adapters_lora(ctx, ptrs, 1, (ctypes.c_float * 1)(1.0))
    batch = lib.llama_batch_get_one((lib.llama_token * 4)(*engine.tokenize("warm up")), 2)
    lib.llama_decode(ctx, batch)
    after = rss_bytes()
    lib.llama_free(ctx)
    return {"second_context_rss_mib": mib(after - before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    bot = Assistant.load()
    if bot.sentiment_adapter is None:
        raise SystemExit("no sentiment adapter fits the default model: nothing to measure")
    print(switch_cost(bot, args.runs))
    print(second_context_rss(bot))
    bot.close()


if __name__ == "__main__":
    main()
