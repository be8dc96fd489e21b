"""``moodchat bench``: one benchmark run of moodchat and its baselines on this machine.

Contract: parses the run counts, calls ``moodchat.evaluation.bench.run_bench`` (each stack
in its own subprocess), prints what each stack is, the table with ratios and the targets (or
the whole result as JSON with ``--json``), and writes ``bench.json``, ``bench.md`` and
``bench.png`` to ``--out``. A stack that crashes (``BenchChildError``) ends the command
with ``error: ...`` naming it and its exit status, exit status 2, and no report files.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from moodchat.cli.base import (
    engine_options,
    err_console,
    main,
    options_from,
    pull_if_needed,
    user_errors,
)

# moodchat.evaluation.bench.ALL_BASELINES, spelled out so --help imports nothing heavy.
BASELINE_NAMES = ["prompt-only", "naive-llama", "naive-llama-highlevel", "fp32-transformers"]


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--no-baseline", is_flag=True, help="Measure moodchat only.")
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    type=click.Choice(BASELINE_NAMES),
    help="Run only these baselines (default: prompt-only, naive-llama, fp32-transformers; "
    "naive-llama-highlevel runs only when named).",
)
@engine_options
@click.option("--runs", type=int, default=24, show_default=True, help="Short sentiment runs.")
@click.option("--long-runs", type=int, default=8, show_default=True)
@click.option("--chat-runs", type=int, default=4, show_default=True)
@click.option("--batch-texts", type=int, default=64, show_default=True)
@click.option(
    "--baseline-runs", type=int, default=8, show_default=True, help="Baselines' short runs."
)
@click.option("--baseline-long-runs", type=int, default=4, show_default=True)
@click.option("--baseline-chat-runs", type=int, default=2, show_default=True)
@click.option(
    "--concurrency",
    "concurrency_levels",
    default="1,2,4,8",
    show_default=True,
    help="Replies at once in the concurrency section (comma-separated; 'none' skips it).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-out"),
    show_default=True,
)
@user_errors
def bench(
    as_json, no_baseline, baselines, runs, long_runs, chat_runs,
    batch_texts, baseline_runs, baseline_long_runs, baseline_chat_runs, concurrency_levels,
    out_dir, **engine_kw,
) -> None:  # fmt: skip
    """Memory, latency, throughput and cold start against the baselines, with ratios."""
    from moodchat.evaluation.bench import BASELINES, run_bench
    from moodchat.evaluation.bench.report import markdown, ratio_chart
    from moodchat.evaluation.bench.workload import BenchConfig

    options = options_from(**engine_kw)
    pull_if_needed(options)
    config = BenchConfig(
        model=options.model, backend=options.backend, threads=options.threads,
        dtype=options.dtype,
        short_runs=max(1, runs), long_runs=max(1, long_runs), chat_runs=max(1, chat_runs),
        batch_texts=max(1, batch_texts), baseline_short_runs=max(1, baseline_runs),
        baseline_long_runs=max(1, baseline_long_runs),
        baseline_chat_runs=max(1, baseline_chat_runs),
        concurrency_levels=_levels(concurrency_levels),
    )  # fmt: skip
    chosen = () if no_baseline else (tuple(baselines) or BASELINES)
    result = run_bench(config, chosen, progress=lambda m: err_console.print(m, highlight=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out_dir / "bench.md").write_text(markdown(result), encoding="utf-8")
    if chosen:
        ratio_chart(result, out_dir / "bench.png")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print(result)
    err_console.print(f"written to {out_dir}/ (bench.json, bench.md, bench.png)", highlight=False)


def _print(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from moodchat.evaluation.bench.report import table_rows, targets

    head, rows = table_rows(result)
    table = Table(*head, title="moodchat bench (ratio = moodchat / baseline)")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # a pipe gets the whole table, not 80 columns
    for name, description in result.get("descriptions", {}).items():
        console.print(f"[bold]{name}[/bold]: {description}", highlight=False)
    console.print(table)
    for name, ok, evidence in targets(result):
        mark = "[dim]n/a[/dim]" if ok is None else "[green]met[/green]" if ok else "[red]MISSED"
        console.print(f"{mark}  {name}: {evidence}", highlight=False)


def _levels(text: str) -> list[int]:
    """``--concurrency`` as a list of positive ints ([] for 'none')."""
    if text.strip().lower() in ("none", "0", ""):
        return []
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if any(n < 1 for n in levels):
        raise click.BadParameter("concurrency levels must be >= 1")
    return levels
