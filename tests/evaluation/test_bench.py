"""``moodchat bench`` without a model: crashed children, targets, the measured long reply.

Children are faked by replacing ``subprocess.run``; the moodchat child's chat phase runs on
a scripted assistant; the naive child's request path runs on ``FakeEngine``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import moodchat.evaluation.bench as bench
from fakes import CONTROL, FakeEngine
from moodchat.evaluation.bench import BenchChildError, exit_description, run_child
from moodchat.evaluation.bench.report import NAIVE_SPEEDUP, markdown, targets
from moodchat.evaluation.bench.workload import (
    CHAT,
    LONG_REPLY,
    BenchConfig,
    Recorder,
    baseline_chat,
)
from moodchat.types import DoneEvent, TokenEvent

MOODCHAT_RESULT = {"name": "moodchat", "memory_mib": {"start": 13.0}, "load_s": 1.0}


def fake_children(monkeypatch, outcomes: dict[str, tuple[int, str]]) -> list[str]:
    """Replace the child processes: module name -> (exit status, stdout). Returns started."""
    started: list[str] = []
    real_run = subprocess.run

    def run(cmd, **kw):
        if cmd[:2] != [sys.executable, "-c"]:
            return real_run(cmd, **kw)  # platform.processor() runs uname
        module = cmd[3]
        started.append(module)
        rc, out = outcomes[module]
        return subprocess.CompletedProcess(cmd, rc, stdout=out, stderr=None)

    monkeypatch.setattr(bench.subprocess, "run", run)
    return started


def result_line(data: dict) -> str:
    return "progress\nBENCH-RESULT " + json.dumps(data) + "\n"


def test_exit_description_names_the_signal():
    assert exit_description(-11) == "killed by SIGSEGV (exit status -11)"
    assert exit_description(3) == "exit status 3"


def test_segfaulted_baseline_raises_naming_it_and_its_exit_status(monkeypatch):
    fake_children(monkeypatch, {bench.CHILDREN["naive-llama"]: (-11, "")})
    with pytest.raises(BenchChildError) as err:
        run_child("naive-llama", BenchConfig())
    assert "baseline naive-llama crashed" in str(err.value)
    assert "SIGSEGV (exit status -11)" in str(err.value)


def test_nonzero_exit_fails_even_after_a_result_line(monkeypatch):
    module = bench.CHILDREN["fp32-transformers"]
    fake_children(monkeypatch, {module: (1, result_line({"name": "fp32-transformers"}))})
    with pytest.raises(BenchChildError, match="fp32-transformers crashed: exit status 1"):
        run_child("fp32-transformers", BenchConfig())


def test_missing_result_and_timeout_fail(monkeypatch):
    fake_children(monkeypatch, {bench.CHILDREN["naive-llama"]: (0, "no result here\n")})
    with pytest.raises(BenchChildError, match="printed no BENCH-RESULT"):
        run_child("naive-llama", BenchConfig())

    def too_slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])

    monkeypatch.setattr(bench.subprocess, "run", too_slow)
    with pytest.raises(BenchChildError, match="naive-llama ran past 5 s"):
        run_child("naive-llama", BenchConfig(), timeout_s=5)


def test_run_bench_stops_at_the_crashed_baseline(monkeypatch):
    started = fake_children(
        monkeypatch,
        {
            bench.CHILDREN["moodchat"]: (0, result_line(MOODCHAT_RESULT)),
            bench.CHILDREN["naive-llama"]: (-11, ""),
        },
    )
    with pytest.raises(BenchChildError, match="naive-llama"):
        bench.run_bench(BenchConfig(), ("naive-llama", "fp32-transformers"))
    assert bench.CHILDREN["fp32-transformers"] not in started


def test_cli_exits_nonzero_and_writes_no_report_when_a_baseline_crashes(monkeypatch, tmp_path):
    from moodchat.cli import main

    monkeypatch.setattr("moodchat.cli.bench.pull_if_needed", lambda options: None)
    fake_children(
        monkeypatch,
        {
            bench.CHILDREN["moodchat"]: (0, result_line(MOODCHAT_RESULT)),
            bench.CHILDREN["naive-llama"]: (-11, ""),
        },
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["bench", "--baseline", "naive-llama", "--out", str(out)])
    assert res.exit_code == 2
    assert "naive-llama" in res.output and "SIGSEGV (exit status -11)" in res.output
    assert "n/a" not in res.output
    assert not (out / "bench.md").exists()


def test_cli_baseline_choices_are_the_children():
    from moodchat.cli.bench import BASELINE_NAMES

    assert tuple(BASELINE_NAMES) == bench.ALL_BASELINES
    assert set(bench.STACKS) == set(bench.CHILDREN)


def naive_result(moodchat_p50: float, naive_p50: float) -> dict:
    stacks = {
        "moodchat": {"sentiment_short_ms": {"p50": moodchat_p50}},
        "naive-llama": {"sentiment_short_ms": {"p50": naive_p50}},
    }
    ratio = round(moodchat_p50 / naive_p50, 3)
    return {"stacks": stacks, "ratios": {"naive-llama": {"sentiment_short_ms.p50": ratio}}}


def naive_target(result: dict) -> tuple[str, bool | None, str]:
    (row,) = [t for t in targets(result) if "naive" in t[0]]
    return row


def test_naive_target_is_judged_on_the_ratio_it_prints():
    # 200 ms is over 150 ms, but 10x faster than naive: the ratio target is met.
    name, ok, evidence = naive_target(naive_result(200.0, 2000.0))
    assert ok is True and evidence == "10.0x faster" and f"{NAIVE_SPEEDUP:g}x" in name
    # 100 ms is under 150 ms, but only 2x faster than naive: missed.
    _, ok, evidence = naive_target(naive_result(100.0, 200.0))
    assert ok is False and evidence == "2.0x faster"


def test_naive_target_is_na_only_when_the_baseline_was_not_run():
    result = {"stacks": {"moodchat": {}}, "ratios": {}}
    assert naive_target(result)[1] is None


def test_token_count_row_is_context_without_a_ratio():
    from moodchat.evaluation.bench.report import table_rows

    result = {
        "stacks": {
            "moodchat": {"chat_reply_128_tokens": {"mean": 128.0}},
            "naive-llama": {"chat_reply_128_tokens": {"mean": 64.0}},
        },
        "ratios": {"naive-llama": {"chat_reply_128_tokens.mean": 2.0}},
    }
    _, rows = table_rows(result)
    (row,) = [r for r in rows if r[0].startswith("tokens in that long reply")]
    assert row == [row[0], "tokens", "128.0", "64.0", "-"]


def test_markdown_says_what_each_stack_is():
    result = naive_result(100.0, 1000.0) | {"descriptions": {"naive-llama": "no prefix cache"}}
    text = markdown(result)
    assert text.startswith("- **naive-llama**: no prefix cache\n")


class ScriptedBot:
    """``respond`` yields one token, then a ``DoneEvent`` whose reply time and length depend
    on whether the message asks for a long reply."""

    def respond(self, message: str, max_new_tokens: int):
        long = message in LONG_REPLY
        tokens = 97 if long else 40
        reply_ms = 2500.0 if long else 900.0
        yield TokenEvent("hi")
        yield DoneEvent(
            reply="hi",
            finish_reason="stop",
            prompt_tokens=10,
            completion_tokens=tokens,
            timings_ms={"first_token_ms": 50.0, "tokens_per_s": 45.0, "reply_ms": reply_ms},
        )


def test_moodchat_child_records_the_measured_long_reply():
    from moodchat.evaluation.bench.child_moodchat import _chat

    rec = Recorder("moodchat", 0)
    _chat(ScriptedBot(), BenchConfig(chat_runs=3), rec)
    assert rec.data["chat_reply_128_ms"] == {"p50": 2500.0, "p90": 2500.0, "p99": 2500.0, "n": 3}
    assert rec.data["chat_reply_128_tokens"] == {"mean": 97.0, "min": 97, "max": 97}
    assert rec.data["chat_reply_128_ms_per_token"]["p50"] == pytest.approx(2500 / 97, abs=0.01)
    assert rec.data["chat_reply_ms"]["p50"] == 900.0  # the ordinary replies stay apart


def test_baseline_chat_records_the_measured_long_reply():
    seen: list[str] = []

    def reply(message: str):
        seen.append(message)
        n = 128 if message in LONG_REPLY else 30
        return list(range(n)), 100.0, 100.0 + n * 20.0

    rec = Recorder("naive-llama", 0)
    baseline_chat(BenchConfig(baseline_chat_runs=2), rec, reply)
    assert seen == [*CHAT[:2], *LONG_REPLY[:2]]
    assert rec.data["chat_reply_128_ms"]["p50"] == 100.0 + 128 * 20.0
    assert rec.data["chat_reply_128_tokens"] == {"mean": 128.0, "min": 128, "max": 128}
    assert rec.data["chat_reply_ms"]["p50"] == 100.0 + 30 * 20.0


def test_naive_child_decodes_the_whole_prompt_for_every_request():
    from moodchat.evaluation.bench.child_naive import prompt_runner

    engine = FakeEngine(reply="Positive")
    run_prompt, empty = prompt_runner(engine)
    assert len(empty) == 0
    prompt = "<|im_start|>system\nsay<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
    text = prompt.replace("<|im_start|>", "").replace("<|im_end|>", "")
    full = len(text.encode()) + 4  # each of the 4 markers is one control token
    for i in (1, 2):
        out, first_ms, total_ms = run_prompt(prompt, 5, True)
        assert engine.evaluated_tokens == i * full  # nothing of the prompt was cached
        assert bytes(out) == b"Posit" and 0 <= first_ms <= total_ms
    out, _, _ = run_prompt(prompt, 50, False)
    assert bytes(out) == b"Positive" and CONTROL["<|im_end|>"] not in out


def test_rss_bounds_in_mb_and_in_mib_are_judged_apart():
    # 636 MiB is 667 MB: over the 650 MB bound, under the sentiment adapter's 650 MiB.
    result = {"stacks": {"moodchat": {"memory_mib": {"peak_chat": 636.0}}}, "ratios": {}}
    rows = {name: ok for name, ok, _ in targets(result) if name.startswith("peak RSS")}
    assert rows == {
        "peak RSS <= 650 MB (chat + sentiment process)": False,
        "peak RSS <= 650 MiB with both adapters (the sentiment adapter's bound)": True,
    }
