"""``moodchat train-sentiment``: rebuild the sentiment LoRA adapter on this machine.

Contract: a thin wrapper over ``moodchat.training.sentiment.train_sentiment`` (imported only
when the command runs, so serving never loads torch or PEFT). It shows one progress bar
per stage with examples/s and the running loss, then the measured accuracy and the path of
the adapter written. Missing data or model files exit with status 2 and a one-line message.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from moodchat.cli.base import err_console, main, user_errors
from moodchat.errors import MoodchatError

DEFAULT_DATA = Path("..") / "shared" / "data"


class _Bars:
    """One rich progress bar per stage, advanced by ``train_sentiment``'s reports.

    Without a terminal (a background run with a log) it prints a line per 5% instead.
    """

    def __init__(self, progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}
        self.logged: dict[str, int] = {}
        self.started: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int, detail: str) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(stage, total=total, detail="")
            self.started[stage] = time.perf_counter()
        self.progress.update(task, completed=done, detail=detail)
        if not self.progress.console.is_terminal:
            self._log_line(stage, done, total, detail)

    def _log_line(self, stage: str, done: int, total: int, detail: str) -> None:
        step = done * 20 // max(1, total)
        if step > self.logged.get(stage, -1):
            self.logged[stage] = step
            elapsed = time.perf_counter() - self.started[stage]
            rate = f" ({done / elapsed:.1f} ex/s)" if elapsed > 1 else ""
            self.progress.console.log(f"{stage}: {done}/{total}{rate} {detail}")


def _progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class Rate(TextColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return f"{speed:.1f} ex/s" if speed else "… ex/s"

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        Rate(""),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


@main.command(name="train-sentiment")
@click.option("--model", "-m", default=None, help="Base GGUF (default: the pulled default model).")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA / "train",
    show_default=True,
    help="Folder of labelled CSVs.",
)
@click.option(
    "--dev",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled CSV measured after training (repeatable; never trained on). "
    "Default: ../shared/data/dev_*.csv when present.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sentiment-adapter.gguf"),
    show_default=True,
)
@click.option(
    "--per-language",
    type=int,
    default=4000,
    show_default=True,
    help="Sampled rows per language (half per label).",
)
@click.option(
    "--everyday-repeat",
    type=int,
    default=2,
    show_default=True,
    help="Times each everyday message written for moodchat is used (0: none).",
)
@click.option(
    "--holdout",
    type=int,
    default=400,
    show_default=True,
    help="Training rows held out to fit the temperature.",
)
@click.option("--top-layers", "-k", type=int, default=6, show_default=True)
@click.option("--rank", "-r", type=int, default=8, show_default=True)
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option("--lr", type=float, default=5e-4, show_default=True)
@click.option("--max-text-tokens", type=int, default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-grad-norm", type=float, default=None, help="Clip gradients (off).")
@click.option("--threads", "-t", type=int, default=None)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the frozen layers' output here; a later run with the same data, "
    "base and --top-layers reuses it (only epochs, lr or rank changed).",
)
@user_errors
def train_sentiment_cmd(model, data_dir, dev, out, threads, **hyper):
    """Train the sentiment role's LoRA adapter and write it as a GGUF adapter file."""
    from moodchat.weights.models import resolve_model

    source = resolve_model(model, backend="llama", auto_pull=True)
    if not data_dir.is_dir():
        raise click.UsageError(f"no training data folder at {data_dir} (see --data)")
    if not any(data_dir.glob("*.csv")):
        raise click.UsageError(f"no labelled CSV files in {data_dir} (see --data)")
    if not dev:
        dev = tuple(sorted((DEFAULT_DATA).glob("dev_*.csv")))
    try:
        from moodchat.training.sentiment import SentimentTrainConfig, train_sentiment
    except ImportError as err:
        raise MoodchatError(
            f"training needs the hf extra ({err.name} is missing): pip install -e '.[hf]'"
        ) from None
    config = SentimentTrainConfig(
        model=source,
        data_dir=str(data_dir),
        out=str(out),
        dev=[str(p) for p in dev],
        threads=threads,
        **hyper,
    )
    with _progress() as progress:
        meta = train_sentiment(config, _Bars(progress))
    for name, m in meta["provenance"]["measured"].items():
        err_console.print(f"{name}: accuracy {m['accuracy']:.2%}, ECE {m['ece']:.3f} (n={m['n']})")
    err_console.print(f"temperature {meta['temperature']}; wrote {out}")
