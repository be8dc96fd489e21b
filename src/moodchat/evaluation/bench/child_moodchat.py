"""Benchmark child: moodchat itself (``Assistant`` on the chosen backend), in a fresh process.

Contract: ``run(config, start_rss)`` records
- memory after interpreter start, after the stack's imports (the llama.cpp tokenizer ships
  inside the GGUF, so "after tokenizer" is after importing the engine), after the model
  load, peaks after the sentiment and chat phases and idle at the end;
- sentiment latency through ``Assistant.analyze`` (short and long texts) and batch
  throughput through ``analyze_many``;
- chat time to first token, decode rate and reply time through ``Assistant.respond``, and
  the measured reply of at most ``max_new_tokens`` to the ``LONG_REPLY`` messages (the
  chat step's ``reply_ms`` and its token count; the end-of-turn token may stop it earlier);
- the concurrency section (``bench.concurrency``), after the chat phase, so its memory
  shows in ``idle_after`` and ``peak``;
- cold start (process spawn to ready).
``config.sentiment_adapter`` / ``chat_adapter`` pick each role's path (both ``none`` for
the prompt-only stack). It prints one ``BENCH-RESULT`` JSON line.
"""

from __future__ import annotations

import time

from moodchat.evaluation.bench.concurrency import measure_concurrency
from moodchat.evaluation.bench.workload import (
    CHAT,
    LONG,
    LONG_REPLY,
    SHORT,
    BenchConfig,
    Recorder,
    cycle,
    put_long_replies,
)
from moodchat.evaluation.stats import percentiles


def run(config: BenchConfig, start_rss: int) -> None:
    rec = Recorder("moodchat", start_rss)
    from moodchat import Assistant
    from moodchat.engine import load_engine  # noqa: F401  (imports the backend module)

    if config.backend == "llama":
        import llama_cpp  # noqa: F401
    rec.memory("after_tokenizer")
    rec.progress("loading the model")
    t0 = time.perf_counter()
    bot = Assistant.load(config.model_options())
    rec.put("load_s", round(time.perf_counter() - t0, 2))
    rec.put("cold_start_s", round(time.time() - config.spawned_at, 2))
    rec.memory("after_load")
    rec.put("info", {k: v for k, v in bot.engine.info().items() if k != "model_path"})
    rec.put("sentiment_prompt", bot.sentiment.prompt.name)
    rec.put("sentiment_adapter", bot.sentiment_adapter.sha256 if bot.sentiment_adapter else None)
    rec.put("chat_adapter", bot.chat_adapter.sha256 if bot.chat_adapter else None)
    _sentiment(bot, config, rec)
    rec.memory("peak_sentiment", peak=True)
    _chat(bot, config, rec)
    rec.memory("peak_chat", peak=True)
    if config.concurrency_levels:
        levels = config.concurrency_levels
        rec.progress(f"concurrency: {levels} replies at once, then sentiment while 4 stream")
        rec.put(
            "concurrency",
            measure_concurrency(
                bot, levels, config.concurrency_tokens, config.concurrency_sentiment_runs
            ),
        )
    rec.finish()
    bot.close()


def _sentiment(bot, config: BenchConfig, rec: Recorder) -> None:
    rec.progress(f"sentiment: {config.short_runs} short, {config.long_runs} long")
    for text in SHORT[:2] + LONG[:1]:
        bot.analyze(text)  # warm-up
    for kind, texts, n in (("short", SHORT, config.short_runs), ("long", LONG, config.long_runs)):
        times = []
        for text in cycle(texts, n):
            t = time.perf_counter()
            bot.analyze(text)
            times.append((time.perf_counter() - t) * 1000)
        rec.put(f"sentiment_{kind}_ms", percentiles(times))
    batch = cycle(SHORT, config.batch_texts)
    t = time.perf_counter()
    for lo in range(0, len(batch), 16):
        bot.analyze_many(batch[lo : lo + 16])
    rec.put("batch_texts_per_s", round(len(batch) / (time.perf_counter() - t), 2))


def _done(bot, message: str, max_new_tokens: int):
    """Run one ``respond``; return its ``DoneEvent`` and ms from the call to the first token."""
    from moodchat.types import DoneEvent, TokenEvent

    start, first, done = time.perf_counter(), None, None
    for ev in bot.respond(message, max_new_tokens=max_new_tokens):
        if isinstance(ev, TokenEvent) and first is None:
            first = (time.perf_counter() - start) * 1000
        if isinstance(ev, DoneEvent):
            done = ev
    return done, first or 0.0


def _chat(bot, config: BenchConfig, rec: Recorder) -> None:
    rec.progress(f"chat: {config.chat_runs} replies of up to {config.max_new_tokens} tokens")
    ttft, first_after_message, rates, reply, tokens = [], [], [], [], []
    for message in cycle(CHAT, config.chat_runs):
        done, first = _done(bot, message, config.max_new_tokens)
        t = done.timings_ms
        ttft.append(t.get("first_token_ms", 0.0))
        first_after_message.append(first)
        rates.append(t.get("tokens_per_s", 0.0))
        reply.append(t["reply_ms"])
        tokens.append(done.completion_tokens)
    rec.put("chat_ttft_ms", percentiles(ttft))
    rec.put("chat_first_token_incl_sentiment_ms", percentiles(first_after_message))
    rec.put("chat_tokens_per_s", round(sum(rates) / len(rates), 2))
    rec.put("chat_reply_ms", percentiles(reply))
    rec.put("chat_reply_tokens_mean", round(sum(tokens) / len(tokens), 1))
    rec.progress(f"chat: {config.chat_runs} long replies (measured, up to the token cap)")
    long_ms, long_tokens = [], []
    for message in cycle(LONG_REPLY, config.chat_runs):
        done, _ = _done(bot, message, config.max_new_tokens)
        long_ms.append(done.timings_ms["reply_ms"])
        long_tokens.append(done.completion_tokens)
    put_long_replies(rec, long_ms, long_tokens)
