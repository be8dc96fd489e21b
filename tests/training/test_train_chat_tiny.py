"""The chat adapter's training path on the tiny random Qwen2: train, export, read, serve.

The weights are random, so replies mean nothing here; what is checked: the assistant
tokens' loss falls, the exported GGUF carries role ``chat`` and its provenance, and, loaded
through PEFT, it changes the chat replies while the sentiment scores stay exactly the same.
"""

from __future__ import annotations

import pytest

from moodchat import Assistant
from moodchat.assistant import RoleOptions
from moodchat.engine.hf import TransformersEngine
from moodchat.engine.sampling import GREEDY
from moodchat.training.chat import ChatTrainConfig, train_chat
from moodchat.weights.adapters import adapter_tensors, read_adapter

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def trained(tiny_qwen_dir, tiny_chat_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat-adapter") / "tiny-chat.gguf"
    config = ChatTrainConfig(
        model=str(tiny_qwen_dir),
        data_dir=str(tiny_chat_dir),
        out=str(out),
        per_source=6,
        everyday_repeat=0,
        holdout=2,
        top_layers=1,
        rank=4,
        epochs=4,
        batch_size=4,
        lr=2e-2,
        threads=1,
    )
    reports = []
    meta = train_chat(config, lambda *a: reports.append(a))
    return out, meta, reports


def test_training_reports_and_lowers_the_reply_loss(trained):
    _, meta, reports = trained
    assert {"caching frozen layers", "training", "held-out check"} <= {r[0] for r in reports}
    prov = meta["provenance"]
    assert len(prov["epoch_loss"]) == 4 and prov["epoch_loss"][-1] < prov["epoch_loss"][0]
    held = prov["measured"]["holdout"]
    assert held["n"] == 2 and held["adapter_loss"] < held["base_loss"]
    assert prov["examples"] == 10 and 0 < prov["learned_tokens"] < prov["tokens"]


def test_exported_chat_adapter_metadata(trained):
    path, meta, _ = trained
    info = read_adapter(path)
    assert (info.role, info.prompt, info.top_layers, info.rank) == ("chat", "c1-adapter", 1, 4)
    assert info.base_sha256 == meta["base_sha256"]
    files = {d["file"]: d for d in info.provenance["data"]}
    assert {"en_small.jsonl", "zh_small.jsonl"} <= set(files)
    assert files["moodchat/training/data/everyday_chat.jsonl"]["written_for_this_project"]
    names = set(adapter_tensors(path))
    assert "blk.1.ffn_up.weight.lora_a" in names and not any(n.startswith("blk.0.") for n in names)


def test_chat_adapter_changes_replies_and_never_sentiment(tiny_qwen_dir, trained):
    path, _, _ = trained
    engine = TransformersEngine(tiny_qwen_dir, threads=1)
    texts = ["很好吃，还会再点", "a dull, lifeless mess"]
    bare = Assistant(engine, RoleOptions(chat_prompt="c1-adapter", chat_adapter="none"))
    moods = [s.probabilities for s in bare.analyze_many(texts)]
    before = bare.reply("I got the job", max_new_tokens=12, sampling=GREEDY)[1]
    tuned = Assistant(engine, RoleOptions(chat_adapter=str(path)))
    assert tuned.info()["chat_adapter"]["role"] == "chat"
    assert [s.probabilities for s in tuned.analyze_many(texts)] == moods
    assert tuned.reply("I got the job", max_new_tokens=12, sampling=GREEDY)[1] != before
    assert bare.reply("I got the job", max_new_tokens=12, sampling=GREEDY)[1] == before


def test_a_continued_run_starts_from_the_adapter_and_records_it(trained, tmp_path):
    import dataclasses

    import numpy as np

    from moodchat.weights.pull import sha256_file

    out, meta, _ = trained
    again = tmp_path / "continued.gguf"
    config = ChatTrainConfig(
        **{**meta["provenance"]["config"], "out": str(again), "threads": 1,
           "init_adapter": str(out), "epochs": 0}
    )  # fmt: skip
    assert dataclasses.asdict(config)["init_adapter"] == str(out)
    continued = train_chat(config, lambda *a: None)
    before, after = adapter_tensors(out), adapter_tensors(again)
    assert before.keys() == after.keys()
    assert all(np.allclose(before[k], after[k], atol=1e-6) for k in before)  # no step taken
    record = next(d for d in continued["provenance"]["data"] if d.get("init_adapter"))
    assert record["sha256"] == sha256_file(out) and record["its_config"]["epochs"] == 4
