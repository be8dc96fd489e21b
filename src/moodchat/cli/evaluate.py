"""``moodchat eval``: accuracy, macro-F1, confusion, calibration and latency per prompt version.

Contract: loads the model once, scores every FILE with every ``--prompt`` version (default:
all versions, in file order) through ``moodchat.evaluation.sentiment``, prints the
side-by-side table and writes ``eval.md``, ``eval.json`` and ``reliability.png`` to ``--out``.
"""

from __future__ import annotations

import platform
from pathlib import Path

import click

from moodchat.cli.base import engine_options, err_console, load_engine, main, user_errors


@main.command(name="eval")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--text-column", default="text", show_default=True)
@click.option(
    "--label-column", default="label", show_default=True, help="Gold: 1/0, pos/neg or neutral."
)
@click.option(
    "--prompt",
    "prompts",
    multiple=True,
    help="Sentiment prompt version (repeatable; 'default' allowed). Default: all versions.",
)
@click.option("--limit", type=int, default=None, help="Evenly spaced subset of N rows per file.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="1 = one by one.")
@click.option("--max-input-tokens", type=int, default=None, help="Truncation length.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval-out"),
    show_default=True,
)
@click.option(
    "--sentiment-adapter",
    "adapter_choice",
    default=None,
    metavar="PATH|auto|none",
    help="Adapter for the prompt version it was trained with (default auto: the shipped one "
    "when it fits the model).",
)
@click.option(
    "--labels",
    type=click.Choice(["three", "binary"]),
    default="three",
    show_default=True,
    help="Read three moods where the prompt has a neutral answer, or the binary two.",
)
@engine_options
@user_errors
def evaluate(
    files, text_column, label_column, prompts, limit, batch_size, max_input_tokens, out_dir,
    adapter_choice, labels, **engine_kw,
) -> None:  # fmt: skip
    """Evaluate sentiment prompt versions on labelled CSV/JSONL FILES.

    The version an adapter was trained with (a1-adapter) runs with that adapter.
    """
    from rich.progress import Progress

    from moodchat.evaluation.report import markdown_table, write_reports
    from moodchat.evaluation.sentiment import evaluate_prompts, load_dataset
    from moodchat.prompts import default_prompt_name, prompt_names
    from moodchat.roles.sentiment import DEFAULT_MAX_INPUT_TOKENS
    from moodchat.weights.adapters import select_adapter

    names = _prompt_list(prompts, prompt_names("sentiment"), default_prompt_name("sentiment"))
    datasets = [load_dataset(f, text_column, label_column, limit) for f in files]
    engine = load_engine(**engine_kw)
    adapter = select_adapter("sentiment", adapter_choice, engine.model_path)
    max_tokens = max_input_tokens or DEFAULT_MAX_INPUT_TOKENS
    total = len(names) * sum(len(d.texts) for d in datasets)
    with Progress(console=err_console) as bar:
        task = bar.add_task("evaluating", total=total)
        results = evaluate_prompts(
            engine,
            datasets,
            names,
            max_input_tokens=max_tokens,
            batch_size=max(1, batch_size),
            progress=lambda name, n: bar.advance(task, n),
            adapter=adapter,
            labels=labels,
        )
    meta = {
        "files": [str(f) for f in files],
        "rows": {d.name: len(d.texts) for d in datasets},
        "model": engine.model_path,
        "backend": engine.backend,
        "threads": engine.n_threads,
        "batch_size": batch_size,
        "max_input_tokens": max_tokens,
        "labels": labels,
        "default_prompt": default_prompt_name("sentiment"),
        "sentiment_adapter": adapter.to_dict() if adapter else None,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    paths = write_reports(results, out_dir, meta)
    engine.close()
    click.echo(markdown_table(results))
    for kind, path in paths.items():
        err_console.print(f"{kind}: {path}", highlight=False)


def _prompt_list(chosen: tuple[str, ...], known: list[str], default: str) -> list[str]:
    if not chosen:
        return known
    out: list[str] = []
    for name in chosen:
        key = default if name == "default" else name
        if key not in known:
            raise click.BadParameter(f"{name!r}; known: {', '.join(known)}", param_hint="--prompt")
        if key not in out:
            out.append(key)
    return out
