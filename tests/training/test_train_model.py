"""The training command on the real default GGUF, for a few steps, served by llama.cpp.

CI never trains a real adapter: this trains the top layer on a handful of rows (about a
minute, most of it dequantizing the GGUF) to prove that what ``moodchat train-sentiment``
writes loads through llama.cpp's ``llama_adapter_lora_init`` against the served model and
changes only the sentiment role.
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


@pytest.fixture(scope="module")
def few_step_adapter(default_model, tiny_train_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("real-adapter") / "few-steps.gguf"
    args = [
        "train-sentiment",
        "--model",
        default_model,
        "--data",
        str(tiny_train_dir),
        "--dev",
        str(tiny_train_dir / "en_small.csv"),
        "--out",
        str(out),
        "--per-language",
        "8",
        "--rows",
        "zh_small.csv=3",
        "--everyday-repeat",
        "0",
        "--holdout",
        "4",
        "--top-layers",
        "1",
        "--rank",
        "4",
        "--threads",
        "2",
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    return out


def test_adapter_records_the_base_it_was_trained_on(few_step_adapter, default_model):
    info = read_adapter(few_step_adapter)
    assert info.top_layers == 1 and info.rank == 4 and info.prompt == "a1-adapter"
    assert fits_model(info, default_model)
    assert "en_small.csv" in info.provenance["dev_accuracy"]
    assert info.provenance["config"]["rows_per_label"] == {"zh_small.csv": 3}


def test_llama_cpp_serves_it_for_sentiment_only(few_step_adapter, default_model):
    bare = Assistant.load(
        default_model, roles=RoleOptions(sentiment_prompt="a1-adapter", sentiment_adapter="none")
    )
    try:
        chat_before = bare.reply("My cat passed away", max_new_tokens=24, sampling=GREEDY)[1]
    finally:
        bare.close()
    bot = Assistant.load(default_model, roles=RoleOptions(sentiment_adapter=str(few_step_adapter)))
    try:
        assert bot.info()["sentiment_adapter"]["path"] == str(few_step_adapter)
        assert bot.analyze("很好吃，还会再点").label in ("positive", "negative")
        assert bot.reply("My cat passed away", max_new_tokens=24, sampling=GREEDY)[1] == chat_before
    finally:
        bot.close()


def test_bad_training_inputs_are_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train-sentiment", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no training data folder" in result.output
    result = runner.invoke(main, ["train-sentiment", "--rows", "zh_waimai.csv"])
    assert result.exit_code == 2 and "is not FILE=N" in result.output
