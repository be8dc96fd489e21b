"""Measure what a burst of sentiment requests from different threads costs (issue 12).

For each burst size N: the wall time of N ``Assistant.analyze`` calls one after another,
then of N calls started together from N threads (a barrier), and how many scoring passes
the engine ran for the burst (``ScoreCoalescer.batch_sizes``). With ``--streams S`` the
bursts are fired while S replies stream (the coalesced pass then runs between two chat
steps). Prints one line per burst size; ``--json FILE`` also writes the figures.

    python scripts/sentiment_burst.py --sizes 1,4,8 --streams 0 [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from moodchat import Assistant
from moodchat.engine.sampling import SamplingParams
from moodchat.evaluation.bench.workload import CHAT, SHORT, cycle


def _concurrent(bot: Assistant, texts: list[str]) -> float:
    """Seconds for ``texts`` analyzed from one thread each, all started together."""
    barrier = threading.Barrier(len(texts) + 1)

    def one(text: str) -> None:
        barrier.wait()
        bot.analyze(text)

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _sequential(bot: Assistant, texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        bot.analyze(text)
    return time.perf_counter() - start


def burst(bot: Assistant, n: int) -> dict:
    """Sequential and concurrent wall time of ``n`` texts, and the concurrent passes."""
    texts = cycle(SHORT, n)
    sequential = _sequential(bot, texts)
    before = bot.engine._scorer.batch_sizes.copy()
    concurrent = _concurrent(bot, texts)
    passes = bot.engine._scorer.batch_sizes - before
    return {
        "texts": n,
        "sequential_ms": round(sequential * 1000, 1),
        "concurrent_ms": round(concurrent * 1000, 1),
        "passes": sum(passes.values()),
        "requests_per_pass": dict(sorted(passes.items())),
    }


def _streams(bot: Assistant, n: int, stop: threading.Event) -> list[threading.Thread]:
    """``n`` threads replying to chat messages, one after another, until ``stop``."""

    def loop(i: int) -> None:
        while not stop.is_set():
            sampling = SamplingParams(seed=i)
            for _ in bot.respond(cycle(CHAT, i + 1)[i], max_new_tokens=64, sampling=sampling):
                if stop.is_set():
                    break

    return [threading.Thread(target=loop, args=(i,)) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,8", help="burst sizes, comma-separated")
    ap.add_argument("--streams", type=int, default=0, help="replies streaming meanwhile")
    ap.add_argument("--threads", type=int, help="CPU threads for the model (default: cores)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    bot = Assistant.load(threads=args.threads)
    _sequential(bot, cycle(SHORT, 4))  # warm up
    stop = threading.Event()
    streams = _streams(bot, args.streams, stop)
    for t in streams:
        t.start()
    time.sleep(1.0 if streams else 0.0)  # let the replies get into decoding
    try:
        rows = [burst(bot, int(n)) for n in args.sizes.split(",")]
    finally:
        stop.set()
        for t in streams:
            t.join()
        bot.close()
    load = os.getloadavg()[0]
    for row in rows:
        print(json.dumps(row))
    print(f"streams={args.streams} load average at the end: {load:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"streams": args.streams, "rows": rows, "load": load}, f, indent=2)


if __name__ == "__main__":
    main()
