"""Three moods from the personal corpus and a warm start, on the tiny random Qwen2.

Random weights: accuracy means nothing. Checked: a run with ``a2-adapter`` and a corpus
trains on three labels with contexts, measures the corpus's held-out split, records the
corpus in its provenance, and serves neutral; a run started from an adapter begins at
exactly that adapter's matrices.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from moodchat import Assistant
from moodchat.assistant import RoleOptions
from moodchat.engine.hf import TransformersEngine
from moodchat.training import corpus
from moodchat.training.export import load_lora_tensors, lora_tensors
from moodchat.training.layers import SplitModel
from moodchat.training.lora import attach_lora
from moodchat.training.sentiment import SentimentTrainConfig, train_sentiment
from moodchat.weights.adapters import adapter_tensors, read_adapter

pytestmark = pytest.mark.hf

TURNS = [
    ("my dog died this morning", "negative", "I'm so sorry about your dog."),
    ("I got the job!!", "positive", "Congratulations, that's wonderful news."),
    ("what time does the shop open?", "neutral", "It opens at nine on weekdays."),
    ("我外婆昨天去世了", "negative", "抱抱你，外婆一定很爱你。"),
    ("我考上研究生了！", "positive", "恭喜你！努力终于有了回报。"),
    ("快递一般几天到？", "neutral", "一般两到三天就能到。"),
]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    shutil.copy(corpus.corpus_dir() / "taxonomy.json", root / "taxonomy.json")
    (root / "batches").mkdir()
    rows = []
    for i in range(30):
        user, label, reply = TURNS[i % len(TURNS)]
        follow, follow_label, follow_reply = TURNS[(i + 1) % len(TURNS)]
        lang = "zh" if i % len(TURNS) >= 3 else "en"
        rows.append({
            "id": f"b99-t-{i:04d}", "batch": "b99-t", "lang": lang, "situation": "bad_day",
            "source": corpus.SOURCE, "messages": [
                {"role": "user", "content": f"{user} ({i})", "label": label, "hard": None},
                {"role": "assistant", "content": reply},
                {"role": "user", "content": follow, "label": follow_label, "hard": None},
                {"role": "assistant", "content": follow_reply},
            ]})  # fmt: skip
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (root / "batches" / "b99-t.jsonl").write_text(lines, encoding="utf-8")
    corpus.assign_heldout(rows, root)
    return root


def _config(tiny_qwen_dir, tiny_train_dir, out, **kw) -> SentimentTrainConfig:
    recipe = dict(
        per_language=8, everyday_repeat=0, holdout=4, top_layers=1, rank=4, epochs=2,
        batch_size=4, lr=1e-2, threads=1, prompt="a2-adapter",
    )  # fmt: skip
    return SentimentTrainConfig(
        model=str(tiny_qwen_dir), data_dir=str(tiny_train_dir), out=str(out), **(recipe | kw)
    )


@pytest.fixture(scope="module")
def three_way(tiny_qwen_dir, tiny_train_dir, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("three") / "three.gguf"
    config = _config(tiny_qwen_dir, tiny_train_dir, out, corpus=str(tiny_corpus))
    return out, train_sentiment(config, lambda *a: None)


def test_a_corpus_run_trains_three_moods_and_measures_the_heldout_split(three_way, tiny_corpus):
    path, meta = three_way
    info = read_adapter(path)
    assert info.prompt == "a2-adapter"
    rows = meta["provenance"]["rows"]
    assert rows.get("personal/b99-t/neutral", 0) > 0
    measured = meta["provenance"]["measured"]
    _, heldout = corpus.split(corpus.load_corpus(tiny_corpus), tiny_corpus)
    assert measured["personal_heldout"]["n"] == 2 * len(heldout)
    record = next(d for d in meta["provenance"]["data"] if "corpus" in d)
    assert record["written_for_moodchat"] and "b99-t.jsonl" in record["files"]
    trained = sum(
        v for k, v in rows.items() if k.startswith("personal/") and not k.endswith("/attacked")
    )
    # every training-split turn but the few the temperature is fitted on; no held-out turn
    assert 2 * (30 - len(heldout)) - 4 <= trained <= 2 * (30 - len(heldout))


def test_the_three_mood_adapter_serves_neutral_and_binary(tiny_qwen_dir, three_way):
    path, _ = three_way
    engine = TransformersEngine(tiny_qwen_dir, threads=1)
    three = Assistant(engine, RoleOptions(sentiment_adapter=str(path)))
    s = three.analyze("what time does the shop open?")
    assert set(s.probabilities) == {"positive", "negative", "neutral"}
    binary = Assistant(engine, RoleOptions(sentiment_adapter=str(path), labels="binary"))
    b = binary.analyze("what time does the shop open?")
    assert set(b.probabilities) == {"positive", "negative"} and b.label != "neutral"


def test_a_warm_start_begins_at_the_adapter_it_names(tiny_qwen_dir, three_way):
    path, _ = three_way
    model = TransformersEngine(tiny_qwen_dir, threads=1, warm_up=False).model
    split = SplitModel(model, top_layers=1)
    peft_model = attach_lora(split.model, split.upper_indices, rank=4, alpha=32.0, seed=1)
    saved = adapter_tensors(path)
    assert load_lora_tensors(peft_model, saved, split.n_layers) == len(saved)
    loaded = lora_tensors(peft_model, split.n_layers)
    assert loaded.keys() == saved.keys()
    assert all(np.allclose(loaded[k], saved[k]) for k in saved)
    wrong = attach_lora(
        TransformersEngine(tiny_qwen_dir, threads=1, warm_up=False).model, [1], 8, 32.0, 0
    )
    with pytest.raises(ValueError, match="shape"):
        load_lora_tensors(wrong, saved, split.n_layers)


def test_a_warm_started_run_records_where_it_started(
    tiny_qwen_dir, tiny_train_dir, tiny_corpus, three_way, tmp_path
):
    path, _ = three_way
    config = _config(
        tiny_qwen_dir, tiny_train_dir, tmp_path / "warm.gguf", corpus=str(tiny_corpus),
        init_adapter=str(path), epochs=1,
    )  # fmt: skip
    meta = train_sentiment(config, lambda *a: None)
    record = next(d for d in meta["provenance"]["data"] if "init_adapter" in d)
    assert record["init_adapter"] == path.name and len(record["sha256"]) == 64
