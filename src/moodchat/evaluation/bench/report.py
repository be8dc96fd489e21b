"""Presenting a benchmark: the figures, their ratios, targets, a table, Markdown and a chart.

Contract: ``FIGURES`` lists every reported figure as (key, label, unit, better) where
``key`` is a dotted path into a stack's measurements and ``better`` is ``lower``,
``higher`` or ``neither`` (context such as a token count, left out of the chart).
``ratios(moodchat, baseline)`` gives moodchat / baseline per figure (missing or zero values
are left out). ``targets(result)`` checks the issue's targets: a target stated as a ratio
against a baseline is judged on exactly the ratio it prints; a target whose stack was not
run is ``None`` ("n/a"). A crashed stack never reaches this module (``run_child`` raises).
``table_rows`` feeds both the rich table and ``markdown(result)``; ``ratio_chart`` writes
the PNG (matplotlib Agg).
"""

from __future__ import annotations

from pathlib import Path

FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("memory_mib.start", "RSS after interpreter start", "MiB", "lower"),
    ("memory_mib.after_tokenizer", "RSS after imports / tokenizer", "MiB", "lower"),
    ("memory_mib.after_load", "RSS after model load", "MiB", "lower"),
    ("memory_mib.peak_sentiment", "peak RSS during sentiment", "MiB", "lower"),
    ("memory_mib.peak_chat", "peak RSS during chat (whole process)", "MiB", "lower"),
    ("memory_mib.idle_after", "RSS idle after", "MiB", "lower"),
    ("sentiment_short_ms.p50", "sentiment short (<=20 chars) P50", "ms", "lower"),
    ("sentiment_short_ms.p90", "sentiment short P90", "ms", "lower"),
    ("sentiment_short_ms.p99", "sentiment short P99", "ms", "lower"),
    ("sentiment_long_ms.p50", "sentiment long (>=200 chars) P50", "ms", "lower"),
    ("sentiment_long_ms.p90", "sentiment long P90", "ms", "lower"),
    ("sentiment_long_ms.p99", "sentiment long P99", "ms", "lower"),
    ("batch_texts_per_s", "batch sentiment throughput", "texts/s", "higher"),
    ("chat_ttft_ms.p50", "chat time to first token P50", "ms", "lower"),
    ("chat_tokens_per_s", "chat decode rate", "tokens/s", "higher"),
    ("chat_reply_128_ms.p50", "long reply (<= 128 tokens), measured P50", "ms", "lower"),
    ("chat_reply_128_ms.p90", "long reply (<= 128 tokens), measured P90", "ms", "lower"),
    ("chat_reply_128_tokens.mean", "tokens in that long reply (mean)", "tokens", "neither"),
    ("chat_reply_128_ms_per_token.p50", "long reply time per its token, P50", "ms", "lower"),
    ("concurrency.tok_s.1", "1 reply at a time: decode rate", "tokens/s", "higher"),
    ("concurrency.e2e_tok_s.1", "1 reply: tokens/s end to end", "tokens/s", "higher"),
    ("concurrency.e2e_tok_s.4", "4 concurrent replies: tokens/s end to end", "tokens/s", "higher"),
    ("concurrency.tok_s.2", "2 concurrent replies: aggregate decode rate", "tokens/s", "higher"),
    ("concurrency.tok_s.4", "4 concurrent replies: aggregate decode rate", "tokens/s", "higher"),
    ("concurrency.tok_s.8", "8 concurrent replies: aggregate decode rate", "tokens/s", "higher"),
    ("concurrency.ttft_ms_p50.1", "1 reply: TTFT P50", "ms", "lower"),
    ("concurrency.ttft_ms_p50.4", "4 concurrent replies: TTFT P50", "ms", "lower"),
    ("concurrency.ttft_ms_p50.8", "8 concurrent replies: TTFT P50", "ms", "lower"),
    ("concurrency.sentiment_while_4_ms.p50", "sentiment P50 while 4 replies stream", "ms", "lower"),
    ("load_s", "model load", "s", "lower"),
    ("cold_start_s", "cold start (spawn to ready)", "s", "lower"),
)


# The "vs naive" target: the speed-up over naive llama.cpp that the target line prints.
NAIVE_SPEEDUP = 3.0


def value(stack: dict, key: str):
    """The number at a dotted ``key`` of a stack's measurements, or None."""
    cur = stack
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur if isinstance(cur, (int, float)) else None


def ratios(moodchat: dict, baseline: dict) -> dict[str, float]:
    """moodchat / baseline for every figure both stacks have (non-zero)."""
    out = {}
    for key, *_ in FIGURES:
        a, b = value(moodchat, key), value(baseline, key)
        if a is not None and b:
            out[key] = round(a / b, 3)
    return out


def targets(result: dict) -> list[tuple[str, bool | None, str]]:
    """(target, met?, evidence) for the issue's targets; None when not measured."""
    m = result["stacks"].get("moodchat", {})
    fp32 = result["ratios"].get("fp32-transformers", {})
    naive = result["ratios"].get("naive-llama", {})
    plain = result["ratios"].get("prompt-only", {})
    p50 = value(m, "sentiment_short_ms.p50")
    checks = [
        ("sentiment P50 (short) <= 120 ms", p50, lambda v: v <= 120, "{:.1f} ms"),
        ("sentiment P50 (short) >= 3x faster than FP32",
         1 / fp32["sentiment_short_ms.p50"] if fp32.get("sentiment_short_ms.p50") else None,
         lambda v: v >= 3, "{:.1f}x"),
        (f"sentiment P50 (short) >= {NAIVE_SPEEDUP:g}x faster than naive llama.cpp",
         1 / naive["sentiment_short_ms.p50"] if naive.get("sentiment_short_ms.p50") else None,
         lambda v: v >= NAIVE_SPEEDUP, "{:.1f}x faster"),
        ("chat >= 20 tokens/s", value(m, "chat_tokens_per_s"), lambda v: v >= 20, "{:.1f} tok/s"),
        ("chat TTFT <= 300 ms", value(m, "chat_ttft_ms.p50"), lambda v: v <= 300, "{:.0f} ms"),
        ("peak RSS <= 650 MB (chat + sentiment process)",
         value(m, "memory_mib.peak_chat"), lambda v: v * 1.048576 <= 650, "{:.0f} MiB"),
        ("peak RSS <= 650 MiB with both adapters (the sentiment adapter's bound)",
         value(m, "memory_mib.peak_chat"), lambda v: v <= 650, "{:.1f} MiB"),
        ("batch sentiment >= 10 short texts/s",
         value(m, "batch_texts_per_s"), lambda v: v >= 10, "{:.1f} texts/s"),
        ("sentiment P50 (short) with the adapter <= 1.15x prompt-only",
         plain.get("sentiment_short_ms.p50"), lambda v: v <= 1.15, "{:.3f}x"),
        ("4 concurrent replies >= 2.5x the aggregate tok/s of one",
         _speedup(m, "4", "1"), lambda v: v >= 2.5, "{:.2f}x"),
        ("sentiment P50 while 4 replies stream <= 250 ms",
         value(m, "concurrency.sentiment_while_4_ms.p50"), lambda v: v <= 250, "{:.0f} ms"),
        ("chat tok/s with both adapters >= 0.90x prompt-only (within 10%)",
         plain.get("chat_tokens_per_s"), lambda v: v >= 0.90, "{:.3f}x"),
    ]  # fmt: skip
    return [
        (name, None if v is None else bool(ok(v)), "n/a" if v is None else fmt.format(v))
        for name, v, ok, fmt in checks
    ]


def _speedup(stack: dict, many: str, one: str) -> float | None:
    a, b = value(stack, f"concurrency.tok_s.{many}"), value(stack, f"concurrency.tok_s.{one}")
    return a / b if a is not None and b else None


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def table_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows: figure, unit, moodchat, then per baseline its value and ratio."""
    stacks, baselines = result["stacks"], list(result["ratios"])
    head = ["figure", "unit", "moodchat"]
    for b in baselines:
        head += [b, f"ratio vs {b}"]
    rows = []
    for key, label, unit, better in FIGURES:
        unit_text = unit if better == "neither" else f"{unit} ({better} is better)"
        row = [label, unit_text, _fmt(value(stacks["moodchat"], key))]
        for b in baselines:
            r = None if better == "neither" else result["ratios"][b].get(key)
            row += [_fmt(value(stacks.get(b, {}), key)), "-" if r is None else f"{r:.3f}"]
        rows.append(row)
    return head, rows


def markdown(result: dict) -> str:
    """What each stack is, the table and the targets as Markdown."""
    head, rows = table_rows(result)
    lines = [f"- **{n}**: {d}" for n, d in result.get("descriptions", {}).items()]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    for name, ok, ev in targets(result):
        lines.append(f"| {name} | {'n/a' if ok is None else 'yes' if ok else 'NO'} | {ev} |")
    return "\n".join(lines).lstrip("\n") + "\n"


def ratio_chart(result: dict, path: Path) -> Path:
    """Horizontal bars of moodchat / baseline per figure, log scale, 1 = parity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baselines = list(result["ratios"])
    shown = [f for f in FIGURES if f[3] != "neither"]
    labels = [f"{label} ({better} better)" for _, label, _, better in shown]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(shown) + 1.5))
    height = 0.8 / max(1, len(baselines))
    for i, b in enumerate(baselines):
        vals = [result["ratios"][b].get(key, 0) or float("nan") for key, *_ in shown]
        ys = [y + i * height for y in range(len(shown))]
        ax.barh(ys, vals, height=height, label=f"moodchat / {b}")
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_yticks([y + height * (len(baselines) - 1) / 2 for y in range(len(shown))])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ratio moodchat / baseline (log scale; 1 = same)")
    ax.set_title("moodchat against the baselines, same machine, same weights, one run")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
