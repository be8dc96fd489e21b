"""The whole training path on the tiny random Qwen2: train, export, read back, serve.

The weights are random, so accuracy means nothing here; what is checked: the cached
lower layers equal an uncached forward pass, training lowers the loss, the exported GGUF
adapter carries its metadata, and, loaded through PEFT into the transformers engine, it
changes the sentiment scores while chat stays token-for-token the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moodchat import Assistant
from moodchat.assistant import RoleOptions
from moodchat.engine.hf import TransformersEngine
from moodchat.engine.sampling import GREEDY
from moodchat.training.layers import SplitModel
from moodchat.training.sentiment import SentimentTrainConfig, train_sentiment
from moodchat.weights.adapters import adapter_tensors, read_adapter

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def trained(tiny_qwen_dir, tiny_train_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "tiny-sentiment.gguf"
    config = SentimentTrainConfig(
        model=str(tiny_qwen_dir),
        data_dir=str(tiny_train_dir),
        out=str(out),
        dev=[str(tiny_train_dir / "en_small.csv")],
        per_language=8,
        everyday_repeat=0,
        holdout=4,
        top_layers=1,
        rank=4,
        epochs=3,
        batch_size=4,
        lr=1e-2,
        threads=1,
    )
    reports = []
    meta = train_sentiment(config, lambda *a: reports.append(a))
    return out, meta, reports


def test_lower_cache_equals_a_full_forward(tiny_qwen_dir):
    engine = TransformersEngine(tiny_qwen_dir, threads=1, warm_up=False)
    model = engine.model
    ids = torch.tensor([[5, 6, 7, 8, 9], [11, 12, 13, 0, 0]])
    split = SplitModel(model, top_layers=1)
    with torch.no_grad():
        hidden = split.upper_last(split.lower(ids), torch.tensor([4, 2]))
        full = [
            model.model(input_ids=ids[i : i + 1, :n]).last_hidden_state[0, -1]
            for i, n in ((0, 5), (1, 3))
        ]
    assert torch.allclose(hidden, torch.stack(full), atol=1e-4)


def test_bfloat16_compute_stays_close_to_float32(tiny_qwen_dir):
    model = TransformersEngine(tiny_qwen_dir, threads=1, warm_up=False).model
    ids = torch.tensor([[5, 6, 7, 8, 9], [11, 12, 13, 0, 0]])
    last = torch.tensor([4, 2])
    exact, fast = SplitModel(model, 1), SplitModel(model, 1, compute="bfloat16")
    want = exact.upper_last(exact.lower(ids), last)
    got = fast.upper_last(fast.lower(ids), last)
    assert got.dtype == torch.float32 and not torch.equal(got, want)
    assert torch.allclose(got, want, atol=0.1, rtol=0.05)
    with pytest.raises(ValueError, match="compute"):
        SplitModel(model, 1, compute="float16")


def test_training_reports_and_lowers_loss(trained):
    _, meta, reports = trained
    stages = {r[0] for r in reports}
    assert {"caching frozen layers", "training", "held-out check"} <= stages
    losses = meta["provenance"]["epoch_loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert "en_small.csv" in meta["provenance"]["measured"]


def test_exported_adapter_metadata(trained):
    path, meta, _ = trained
    info = read_adapter(path)
    assert (info.role, info.prompt, info.top_layers, info.rank) == ("sentiment", "a1-adapter", 1, 4)
    assert info.base_sha256 == meta["base_sha256"] and len(info.base_sha256) == 64
    files = {d["file"]: d for d in info.provenance["data"]}
    assert {"en_small.csv", "zh_small.csv"} <= set(files)
    assert all(len(d["sha256"]) == 64 for d in files.values())
    assert any(d.get("written_for_this_project") for d in files.values())
    names = set(adapter_tensors(path))
    assert "blk.1.attn_q.weight.lora_a" in names and "blk.1.ffn_down.weight.lora_b" in names
    assert not any(n.startswith("blk.0.") for n in names)  # only the top layer is trained


def test_adapter_changes_sentiment_and_never_chat(tiny_qwen_dir, trained):
    path, _, _ = trained
    engine = TransformersEngine(tiny_qwen_dir, threads=1)
    bare = Assistant(engine, RoleOptions(sentiment_prompt="a1-adapter"))
    texts = ["很好吃，还会再点", "a dull, lifeless mess"]
    before = [s.probabilities["positive"] for s in bare.analyze_many(texts)]
    chat_before = bare.reply("My cat passed away", max_new_tokens=12, sampling=GREEDY)[1]
    tuned = Assistant(engine, RoleOptions(sentiment_adapter=str(path)))
    after = [s.probabilities["positive"] for s in tuned.analyze_many(texts)]
    chat_after = tuned.reply("My cat passed away", max_new_tokens=12, sampling=GREEDY)[1]
    again = bare.reply("My cat passed away", max_new_tokens=12, sampling=GREEDY)[1]
    assert not np.allclose(before, after, atol=1e-3)
    assert chat_after == chat_before == again
    assert [s.probabilities["positive"] for s in bare.analyze_many(texts)] == before


def test_same_seed_same_adapter_and_the_cache_is_reused(tiny_qwen_dir, tiny_train_dir, tmp_path):
    def run(out: str) -> list:
        config = SentimentTrainConfig(
            model=str(tiny_qwen_dir), data_dir=str(tiny_train_dir), out=str(tmp_path / out),
            per_language=8, everyday_repeat=0, holdout=4, top_layers=1, rank=4, epochs=2,
            batch_size=4, lr=1e-2, threads=1, cache_dir=str(tmp_path / "cache"),
        )  # fmt: skip
        reports = []
        train_sentiment(config, lambda *a: reports.append(a))
        return reports

    first, second = run("a.gguf"), run("b.gguf")
    assert not any(r[3] == "from cache" for r in first)
    assert any(r[0] == "caching frozen layers" and r[3] == "from cache" for r in second)
    a, b = adapter_tensors(tmp_path / "a.gguf"), adapter_tensors(tmp_path / "b.gguf")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
