"""What reading the previous user turn costs the analyst: P50 / P90 latency with and without.

Takes the second user turns of the personal corpus's held-out conversations (each has a
previous turn), scores each one alone (``analyze(text)``) and after its previous turn
(``analyze(text, context=prev)``), one request at a time on llama.cpp with the shipped (or
named) adapter after a warm-up, interleaved so both see the same machine, and prints the
latency percentiles and their ratio. Run it on a quiet machine.

Usage: python scripts/context_cost.py [--sentiment-adapter auto|none|PATH] [--n 120]
                                      [--context-tokens N]

``--context-tokens N`` reads at most N tokens of the previous turn instead of the role's
``CONTEXT_TOKENS`` (a measurement of shorter contexts; serving is unchanged).
"""

from __future__ import annotations

import argparse
import time

from moodchat import Assistant, ModelOptions, RoleOptions
from moodchat.evaluation.stats import percentiles
from moodchat.roles import sentiment as sentiment_role
from moodchat.training import corpus
from moodchat.training.data import corpus_turns


def pairs(n: int) -> list[tuple[str, str]]:
    """Up to ``n`` (previous turn, text) pairs from the held-out conversations."""
    _, heldout = corpus.split(corpus.load_corpus(), corpus.corpus_dir())
    return [(t.context, t.text) for t in corpus_turns(heldout) if t.context][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentiment-adapter", default="auto")
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--context-tokens", type=int, default=None)
    args = parser.parse_args()
    if args.context_tokens:
        sentiment_role.CONTEXT_TOKENS = args.context_tokens
    roles = RoleOptions(sentiment_adapter=args.sentiment_adapter, chat_adapter="none")
    timings: dict[str, list[float]] = {"alone": [], "with context": []}
    with Assistant.load(ModelOptions(roles=roles)) as bot:
        chosen = pairs(args.n)
        for prev, text in chosen[:5]:  # warm-up
            bot.analyze(text, context=prev)
        for prev, text in chosen:
            for key, context in (("alone", None), ("with context", prev)):
                start = time.perf_counter()
                bot.analyze(text, context=context)
                timings[key].append((time.perf_counter() - start) * 1000)
    summary = {k: percentiles(v) for k, v in timings.items()}
    for key, p in summary.items():
        print(f"{key:>13}: P50 {p['p50']:.1f} ms, P90 {p['p90']:.1f} ms (n={len(timings[key])})")
    ratio = summary["with context"]["p50"] / summary["alone"]["p50"]
    print(f"P50 ratio with / without context: {ratio:.3f}")


if __name__ == "__main__":
    main()
