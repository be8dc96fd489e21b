"""``moodchat eval-chat``: the assistant's replies graded on annotated conversations.

Contract: loads the model like every role command (``model_options``), plays the shipped
conversation scripts (``moodchat.evaluation.chat``), prints the summary table and writes
``chat-eval.md`` (a transcript a person can read, each reply with what was flagged) and
``chat-eval.json`` (summary, settings and every graded reply) to ``--out``. Seeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from moodchat.cli.base import err_console, load_assistant, main, model_options, user_errors


@main.command(name="eval-chat")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("chat-eval"),
    show_default=True,
)
@click.option("--limit", type=int, default=None, help="Only the first N conversations.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-tokens", type=int, default=128, show_default=True)
@model_options
@user_errors
def eval_chat(out_dir: Path, limit, seed: int, max_tokens: int, **model_kw) -> None:
    """Grade the assistant's replies: tone, refusals, echoes, parroting, language, shape."""
    from rich.progress import Progress

    from moodchat.evaluation.chat import (
        grades_json,
        load_scripts,
        run_scripts,
        summarize,
        transcript_markdown,
    )

    scripts = load_scripts()[:limit]
    bot = load_assistant(**model_kw)
    examples = [reply for pairs in bot.chat.prompt.examples.values() for _, reply in pairs]
    total = sum(len(c["turns"]) for c in scripts)
    with Progress(console=err_console) as bar:
        task = bar.add_task("replying", total=total)
        grades = run_scripts(
            bot, scripts, prompt_examples=examples, seed=seed, max_new_tokens=max_tokens,
            progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    info = bot.info()
    meta = {
        "chat_prompt": info["chat_prompt"],
        "chat_adapter": info.get("chat_adapter"),
        "model": info["model_path"],
        "seed": seed,
        "max_tokens": max_tokens,
    }
    bot.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "chat-eval.md").write_text(
        transcript_markdown(grades, f"moodchat eval-chat ({meta['chat_prompt']})"), "utf-8"
    )
    (out_dir / "chat-eval.json").write_text(grades_json(grades, meta), "utf-8")
    click.echo(json.dumps(summarize(grades), indent=2))
    err_console.print(f"written to {out_dir}/ (chat-eval.md, chat-eval.json)", highlight=False)
