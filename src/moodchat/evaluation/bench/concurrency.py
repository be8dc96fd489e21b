"""The benchmark's concurrency section: several replies at once on one ``Assistant``.

Contract: ``measure_concurrency(bot, levels, max_new_tokens, sentiment_runs)`` returns
- ``tok_s[n]``: for each level ``n``, ``n`` threads start one ``respond`` each at the same
  moment (a barrier) on messages of ``workload.CHAT``, each with its own seed; the
  aggregate decode rate is all their completion tokens divided by the wall time from the
  barrier to the last reply's end;
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
    """One reply after ``start`` (a barrier or None); appends (ttft ms, tokens, end time)."""
    if start is not None:
        start.wait()
    began, first, tokens = time.perf_counter(), None, 0
    sampling = SamplingParams(seed=seed)
    for ev in bot.respond(message, max_new_tokens=max_new_tokens, sampling=sampling):
        if isinstance(ev, TokenEvent) and first is None:
            first = (time.perf_counter() - began) * 1000
        if isinstance(ev, DoneEvent):
            tokens = ev.completion_tokens
    out.append((first or 0.0, tokens, time.perf_counter()))


def _threads(bot, n: int, max_new_tokens: int, out: list, barrier) -> list[threading.Thread]:
    messages = cycle(CHAT, n)
    return [
        threading.Thread(target=_reply, args=(bot, m, max_new_tokens, i, out, barrier))
        for i, m in enumerate(messages)
    ]


def _level(bot, n: int, max_new_tokens: int) -> tuple[float, float]:
    """(aggregate tokens/s, TTFT P50 ms) of ``n`` replies started together."""
    out: list = []
    barrier = threading.Barrier(n + 1)
    threads = _threads(bot, n, max_new_tokens, out, barrier)
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = max(end for _, _, end in out) - began
    tokens = sum(tok for _, tok, _ in out)
    ttft = sorted(first for first, _, _ in out)
    return round(tokens / wall, 2) if wall > 0 else 0.0, round(ttft[len(ttft) // 2], 1)


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
    tok_s, ttft = {}, {}
    for n in levels:
        tok_s[str(n)], ttft[str(n)] = _level(bot, n, max_new_tokens)
    return {
        "tok_s": tok_s,
        "ttft_ms_p50": ttft,
        "sentiment_while_4_ms": _sentiment_while_streaming(bot, 4, sentiment_runs, max_new_tokens),
    }
