"""The benchmark's concurrency section on the fake engine: shape and bookkeeping."""

from __future__ import annotations

import pytest

from fakes import FakeEngine
from moodchat import Assistant
from moodchat.cli.bench import _levels
from moodchat.evaluation.bench.concurrency import measure_concurrency
from moodchat.evaluation.bench.report import targets


def test_measure_concurrency_reports_every_level():
    bot = Assistant(FakeEngine(reply="Sounds lovely, tell me more."))
    result = measure_concurrency(bot, [1, 2, 4], max_new_tokens=8, sentiment_runs=3)
    assert set(result["tok_s"]) == set(result["ttft_ms_p50"]) == {"1", "2", "4"}
    assert set(result["e2e_tok_s"]) == {"1", "2", "4"}
    assert all(v > 0 for v in result["tok_s"].values())
    assert result["sentiment_while_4_ms"]["p50"] > 0
    # every reply ran: 1 + 2 + 4 at the levels, then 4 while sentiment was scored
    assert len(bot.engine.generated_with) == 11


def test_concurrency_targets_are_judged_on_the_measured_speedup():
    stack = {
        "concurrency": {"tok_s": {"1": 50.0, "4": 100.0}, "sentiment_while_4_ms": {"p50": 900}}
    }
    result = {"stacks": {"moodchat": stack}, "ratios": {}}
    got = {name: (met, shown) for name, met, shown in targets(result)}
    assert got["4 concurrent replies >= 2.5x the aggregate tok/s of one"] == (False, "2.00x")
    assert got["sentiment P50 while 4 replies stream <= 250 ms"] == (False, "900 ms")


def test_concurrency_levels_option():
    assert _levels("1,2,4") == [1, 2, 4] and _levels("none") == []
    with pytest.raises(Exception, match="integers"):
        _levels("1,x")
