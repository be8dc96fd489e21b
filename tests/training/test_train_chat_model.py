"""``moodchat train-chat`` on the real default GGUF, for a few steps, served by llama.cpp.

CI never trains a real chat adapter: this trains the top layer on a handful of tiny
conversations to prove that what the command writes loads through llama.cpp against the
served model, changes the replies, and leaves the sentiment role exactly as it was.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from moodchat import Assistant
from moodchat.assistant import RoleOptions
from moodchat.cli import main
from moodchat.engine.sampling import GREEDY
from moodchat.weights.adapters import fits_model, read_adapter

pytestmark = [pytest.mark.model, pytest.mark.hf]

TEXTS = ["快递丢了，客服一直推脱，气死我了。", "What a lovely surprise party!"]


@pytest.fixture(scope="module")
def few_step_chat_adapter(default_model, tiny_chat_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("real-chat-adapter") / "few-steps.gguf"
    args = ["train-chat", "--model", default_model, "--data", str(tiny_chat_dir)]
    args += ["--out", str(out), "--per-source", "4", "--everyday-repeat", "0"]
    args += ["--holdout", "2", "--top-layers", "1", "--rank", "4", "--lr", "1e-2"]
    args += ["--epochs", "2", "--batch-size", "2", "--threads", "2"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "held-out reply loss" in result.output and "wrote" in result.output
    return out


def _served(default_model: str, chat_adapter: str) -> tuple[list[dict], str]:
    bot = Assistant.load(default_model, roles=RoleOptions(chat_adapter=chat_adapter))
    try:
        moods = [s.probabilities for s in bot.analyze_many(TEXTS)]
        reply = bot.reply("I got the job!", max_new_tokens=16, sampling=GREEDY)[1]
        return moods, reply
    finally:
        bot.close()


def test_chat_adapter_records_its_base_and_prompt(few_step_chat_adapter, default_model):
    info = read_adapter(few_step_chat_adapter)
    assert (info.role, info.prompt, info.top_layers, info.rank) == ("chat", "c1-adapter", 1, 4)
    assert fits_model(info, default_model)
    assert info.provenance["measured"]["holdout"]["n"] == 2


def test_llama_serves_it_for_chat_only(few_step_chat_adapter, default_model):
    bare_moods, bare_reply = _served(default_model, "none")
    moods, reply = _served(default_model, str(few_step_chat_adapter))
    assert moods == bare_moods
    assert reply != bare_reply
