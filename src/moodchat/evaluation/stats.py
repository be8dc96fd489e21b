"""Summaries of measured samples, shared by the evaluation runs and the benchmark.

Contract: ``percentiles`` gives P50/P90/P99 by linear interpolation between order
statistics (numpy's default method) and the sample count; empty input gives zeros.
"""

from __future__ import annotations

from collections.abc import Sequence


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """P50/P90/P99 (linear interpolation) and the number of samples."""
    xs = sorted(values)
    if not xs:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "n": 0}

    def q(p: float) -> float:
        k = (len(xs) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    return {"p50": round(q(0.5), 2), "p90": round(q(0.9), 2), "p99": round(q(0.99), 2),
            "n": len(xs)}  # fmt: skip
