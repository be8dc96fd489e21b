"""``moodchat train-sentiment`` / ``train-chat``: rebuild a role's LoRA adapter on this machine.

Contract: thin wrappers over ``moodchat.training.sentiment.train_sentiment`` and
``moodchat.training.chat.train_chat`` (imported only when a command runs, so serving never
loads torch or PEFT). Both share ``training_options`` (model, output, K, rank, epochs, lr,
seed, clipping, threads, layer cache). Each shows one progress bar per stage with
examples/s and the running loss, then what it measured and the path of the adapter written.
Missing data or model files exit with status 2 and a one-line message.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from moodchat.cli.base import apply_options, err_console, main, user_errors
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


def training_options(out: str):
    """The options every adapter's training command takes.

    Hyper-parameters left unset take the role's config defaults (the recipe of the shipped
    adapter), so the defaults live in one place: ``SentimentTrainConfig`` / ``ChatTrainConfig``.
    """
    recipe = "(default: the shipped adapter's recipe)"
    options = [
        click.option("--model", "-m", default=None, help="Base GGUF (default: the pulled model)."),
        click.option(
            "--out",
            "-o",
            type=click.Path(dir_okay=False, path_type=Path),
            default=Path(out),
            show_default=True,
        ),
        click.option("--top-layers", "-k", type=int, default=None, help=f"K {recipe}."),
        click.option("--rank", "-r", type=int, default=None, help=f"LoRA rank {recipe}."),
        click.option("--alpha", type=float, default=None, help=f"LoRA alpha {recipe}."),
        click.option("--epochs", type=int, default=None, help=recipe),
        click.option("--lr", type=float, default=None, help=recipe),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--max-steps",
            type=click.IntRange(min=1),
            default=None,
            help="Stop after this many optimizer steps, the schedule spanning them (default: "
            "every batch of every epoch); fits a run to a CPU's time.",
        ),
        click.option(
            "--max-grad-norm",
            type=float,
            default=None,
            help=f"Clip the gradients' global norm, 0: off {recipe}.",
        ),
        click.option("--threads", "-t", type=int, default=None),
        click.option(
            "--compute",
            type=click.Choice(["bfloat16", "float32"]),
            default=None,
            help="The layers' matrix products: bfloat16 (about 3x faster on AVX-512 BF16 "
            f"CPUs) or exact float32 {recipe}.",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Keep the frozen layers' output here; a later run with the same data, "
            "base and --top-layers reuses it (only epochs, lr or rank changed).",
        ),
    ]
    return lambda fn: apply_options(fn, options)


def _data_dir(path: Path, pattern: str) -> None:
    if not path.is_dir():
        raise click.UsageError(f"no training data folder at {path} (see --data)")
    if not any(path.glob(pattern)):
        raise click.UsageError(f"no {pattern} files in {path} (see --data)")


def _file_counts(values) -> dict[str, int] | None:
    """``("a.csv=10", ...)`` as ``{"a.csv": 10}``; None when no value was given."""
    if not values:
        return None
    counts: dict[str, int] = {}
    for value in values:
        name, _, n = value.partition("=")
        if not name or not n.isdigit():
            raise click.BadParameter(f"{value!r} is not FILE=N")
        counts[name] = int(n)
    return counts


def _given(options: dict) -> dict:
    """The options set on the command line; the rest keep the config's defaults."""
    return {k: v for k, v in options.items() if v is not None}


def _import_training(module: str):
    import importlib

    try:
        return importlib.import_module(f"moodchat.training.{module}")
    except ImportError as err:
        raise MoodchatError(
            f"training needs the hf extra ({err.name} is missing): pip install -e '.[hf]'"
        ) from None


def _warn_if_emulated(compute: str) -> None:
    """Say so before a bfloat16 run on a CPU that would emulate it (hours instead of minutes)."""
    from moodchat.training.layers import native_bfloat16

    if compute == "bfloat16" and not native_bfloat16():
        err_console.print(
            "[yellow]warning:[/] this CPU has no native bfloat16 (AVX-512 BF16 or AMX), so "
            "--compute bfloat16 is emulated and runs far slower than float32 (0.1 against "
            "3.7 examples/s at K=6 on an AVX2 CPU); --compute float32 is exact and faster here"
        )


def _data_option(folder: str, what: str):
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_DATA / folder,
        show_default=True,
        help=f"Folder of {what}.",
    )


@main.command(name="train-sentiment")
@training_options("sentiment-adapter.gguf")
@_data_option("train", "labelled CSVs")
@click.option(
    "--dev",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled CSV measured after training (repeatable; never trained on). "
    "Default: ../shared/data/dev_*.csv when present.",
)
@click.option(
    "--per-language",
    type=int,
    default=4000,
    show_default=True,
    help="Sampled rows per language (half per label).",
)
@click.option(
    "--rows",
    "rows_per_label",
    multiple=True,
    callback=lambda _ctx, _param, value: _file_counts(value),
    metavar="FILE=N",
    help="Rows per label drawn from one training file, e.g. zh_waimai.csv=3000 "
    "(repeatable; overrides that file's share of --per-language).",
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
@click.option("--max-text-tokens", type=int, default=64, show_default=True)
@click.option(
    "--prompt",
    default=None,
    help="Sentiment prompt version trained for: a1-adapter (two moods) or a2-adapter "
    "(positive / negative / neutral) (default: the shipped adapter's recipe).",
)
@click.option(
    "--corpus",
    type=click.Path(file_okay=False),
    default=None,
    help="The personal corpus written for moodchat (data/personal of a checkout): its "
    "training split's user turns are trained on, read after their previous turn; its "
    "held-out split is measured (default: none, the shipped adapter's recipe).",
)
@click.option("--corpus-repeat", type=int, default=None, help="Times each corpus turn is used.")
@click.option(
    "--init-adapter",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from this trained sentiment adapter (same --top-layers and --rank).",
)
@user_errors
def train_sentiment_cmd(model, data_dir, dev, out, threads, **hyper):
    """Train the sentiment role's LoRA adapter and write it as a GGUF adapter file."""
    from moodchat.weights.models import resolve_model

    source = resolve_model(model, backend="llama", auto_pull=True)
    _data_dir(data_dir, "*.csv")
    if not dev:
        dev = tuple(sorted((DEFAULT_DATA).glob("dev_*.csv")))
    training = _import_training("sentiment")
    config = training.SentimentTrainConfig(
        model=source,
        data_dir=str(data_dir),
        out=str(out),
        dev=[str(p) for p in dev],
        threads=threads,
        **_given(hyper),
    )
    _warn_if_emulated(config.compute)
    with _progress() as progress:
        meta = training.train_sentiment(config, _Bars(progress))
    for name, m in meta["provenance"]["measured"].items():
        err_console.print(f"{name}: accuracy {m['accuracy']:.2%}, ECE {m['ece']:.3f} (n={m['n']})")
    err_console.print(f"temperature {meta['temperature']}; wrote {out}")


@main.command(name="train-chat")
@training_options("chat-adapter.gguf")
@_data_option("chat", "conversation JSONL files")
@click.option(
    "--per-source",
    type=int,
    default=400,
    show_default=True,
    help="Conversations sampled from each public file.",
)
@click.option(
    "--exchanges",
    type=int,
    default=1,
    show_default=True,
    help="User/assistant exchanges kept from each public conversation.",
)
@click.option(
    "--everyday-repeat",
    type=int,
    default=3,
    show_default=True,
    help="Times each everyday conversation written for moodchat is used.",
)
@click.option("--holdout", type=int, default=64, show_default=True)
@click.option("--max-tokens", type=int, default=320, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option(
    "--corpus",
    type=click.Path(file_okay=False),
    default=None,
    help="The personal corpus written for moodchat (data/personal of a checkout): its "
    "training split's conversations are learned, every assistant turn a target (not the "
    "self-harm and hopelessness ones, which the safety rule answers); its held-out split "
    "is measured (default: none, the shipped adapter's recipe).",
)
@click.option(
    "--corpus-repeat", type=int, default=None, help="Times each corpus conversation is used."
)
@click.option(
    "--preference",
    type=click.Path(file_okay=False),
    default=None,
    help="Preference pairs written for moodchat (data/preference): a DPO stage after the "
    "replies are learned, the adapter as it stands being the reference (default: none).",
)
@click.option("--preference-epochs", type=int, default=None)
@click.option("--preference-beta", type=float, default=None, help="DPO beta (default 0.1).")
@click.option("--preference-lr", type=float, default=None, help="DPO learning rate (default 5e-5).")
@click.option(
    "--preference-nll",
    type=float,
    default=None,
    help="Weight of the chosen replies' per-token NLL added to the DPO loss (default 1.0; "
    "0 is plain DPO, which wrote degenerate text in a measured run).",
)
@click.option(
    "--init-adapter",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Continue from this trained chat adapter (same --top-layers and --rank); with "
    "--epochs 0 and --preference, the DPO stage alone.",
)
@click.option(
    "--skip-steps",
    type=click.IntRange(min=0),
    default=None,
    help="Pass over the first N batches of the seeded order (those an earlier run with "
    "the same data and seed learned, continued by --init-adapter).",
)
@user_errors
def train_chat_cmd(model, data_dir, out, threads, **hyper):
    """Train the chat role's LoRA adapter and write it as a GGUF adapter file."""
    from moodchat.weights.models import resolve_model

    source = resolve_model(model, backend="llama", auto_pull=True)
    _data_dir(data_dir, "*.jsonl")
    training = _import_training("chat")
    config = training.ChatTrainConfig(
        model=source, data_dir=str(data_dir), out=str(out), threads=threads, **_given(hyper)
    )
    _warn_if_emulated(config.compute)
    with _progress() as progress:
        meta = training.train_chat(config, _Bars(progress))
    measured = meta["provenance"]["measured"]
    for name, title in (("holdout", "held-out"), ("personal_heldout", "personal held-out")):
        if name in measured:
            held = measured[name]
            err_console.print(
                f"{title} reply loss {held['base_loss']:.3f} -> {held['adapter_loss']:.3f} "
                f"(n={held['n']})"
            )
    if "preference" in measured:
        err_console.print(f"preference: {measured['preference']}", highlight=False)
    err_console.print(f"wrote {out}")
