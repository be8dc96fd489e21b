"""The benchmark's concurrency section: several replies at once on one ``Assistant``.

Contract: ``measure_concurrency(bot, levels, max_new_tokens, sentiment_runs)`` returns
- ``tok_s[n]``: for each level ``n``, ``n`` threads start one ``respond`` each at the same
  moment (a barrier) on messages of ``workload.CHAT``, each with its own seed; the
  aggregate decode rate is all their completion tokens divided by the decoding span, from
  the first reply's first token to the last reply's end;
- ``e2e_tok_s[n]``: the same tokens divided by the whole wall time from the barrier (each
  reply's sentiment and prompt included, which run one after another);
- ``ttft_ms_p50[n]``: the median over those replies of the time from the call to its first
  token;
- ``sentiment_while_4_ms``: percentiles of ``sentiment_runs`` ``analyze`` calls made one
  after another on ``workload.SHORT`` while 4 replies stream (started first, waited for
  after).
Keys of ``tok_s`` and ``ttft_ms_p50`` are strings ("1", "2", ...), as they read back from
JSON. The assistant must be safe to share between threads (it is: the engine serializes
model steps); this section measures how it shares them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from moodchat.engine.sampling import SamplingParams
from moodchat.evaluation.bench.workload import CHAT, SHORT, cycle
from moodchat.evaluation.stats import percentiles
from moodchat.types import DoneEvent, TokenEvent


def _reply(bot, message: str, max_new_tokens: int, seed: int, out: list, start) -> None:
    """One reply after ``start`` (a barrier or None); appends
    (ttft ms, tokens, end time, first-token time)."""
    if start is not None:
        start.wait()
    began, first, tokens, first_at = time.perf_counter(), None, 0, None
    sampling = SamplingParams(seed=seed)
    for ev in bot.respond(message, max_new_tokens=max_new_tokens, sampling=sampling):
        if isinstance(ev, TokenEvent) and first is None:
            first_at = time.perf_counter()
            first = (first_at - began) * 1000
        if isinstance(ev, DoneEvent):
            tokens = ev.completion_tokens
    end = time.perf_counter()
    out.append((first or 0.0, tokens, end, first_at or end))


def _threads(bot, n: int, max_new_tokens: int, out: list, barrier) -> list[threading.Thread]:
    messages = cycle(CHAT, n)
    return [
        threading.Thread(target=_reply, args=(bot, m, max_new_tokens, i, out, barrier))
        for i, m in enumerate(messages)
    ]


def _level(bot, n: int, max_new_tokens: int) -> tuple[float, float, float]:
    """(aggregate decode tokens/s, end-to-end tokens/s, TTFT P50 ms) of ``n`` replies."""
    out: list = []
    barrier = threading.Barrier(n + 1)
    threads = _threads(bot, n, max_new_tokens, out, barrier)
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    last_end = max(row[2] for row in out)
    decoding = last_end - min(row[3] for row in out)
    tokens = sum(row[1] for row in out)
    ttft = sorted(row[0] for row in out)

    def rate(span: float) -> float:
        return round(tokens / span, 2) if span > 0 else 0.0

    return rate(decoding), rate(last_end - began), round(ttft[len(ttft) // 2], 1)


def _sentiment_while_streaming(bot, streams: int, runs: int, max_new_tokens: int) -> dict:
    out: list = []
    threads = _threads(bot, streams, max_new_tokens, out, None)
    for t in threads:
        t.start()
    time.sleep(0.2)  # let the replies get past their prompts and into decoding
    times = []
    for text in cycle(SHORT, runs):
        t0 = time.perf_counter()
        bot.analyze(text)
        times.append((time.perf_counter() - t0) * 1000)
    for t in threads:
        t.join()
    return percentiles(times)


def measure_concurrency(
    bot, levels: Sequence[int], max_new_tokens: int, sentiment_runs: int
) -> dict:
    """The concurrency figures described in the module contract."""
    tok_s, e2e, ttft = {}, {}, {}
    for n in levels:
        tok_s[str(n)], e2e[str(n)], ttft[str(n)] = _level(bot, n, max_new_tokens)
    return {
        "tok_s": tok_s,
        "e2e_tok_s": e2e,
        "ttft_ms_p50": ttft,
        "sentiment_while_4_ms": _sentiment_while_streaming(bot, 4, sentiment_runs, max_new_tokens),
    }
