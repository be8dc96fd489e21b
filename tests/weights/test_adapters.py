"""Adapter files: metadata round trip, refusal of bad files, and which adapter a role gets.

Unit tests: adapters are written with the training exporter from small random matrices
(gguf-py and numpy only), and the assistant runs on ``FakeEngine``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fakes import FakeEngine
from moodchat.assistant import Assistant, RoleOptions, choose_adapter
from moodchat.errors import AdapterError, InputError
from moodchat.training.export import write_adapter
from moodchat.weights import adapters
from moodchat.weights.adapters import (
    base_fingerprint,
    fits_model,
    gguf_base_name,
    read_adapter,
    select_adapter,
)


def _metadata(base, role="sentiment", prompt="a1-adapter") -> dict:
    return {
        "role": role,
        "base_sha256": "0" * 64,
        "base_size": base.stat().st_size,
        "base_fingerprint": base_fingerprint(base),
        "prompt": prompt,
        "top_layers": 1,
        "rank": 2,
        "temperature": 1.25,
        "provenance": {"dev_accuracy": {"dev.csv": 0.9}, "data": [{"file": "x.csv"}]},
    }


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "base.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 9000)
    return path


@pytest.fixture
def adapter_file(tmp_path, base):
    rng = np.random.default_rng(0)
    tensors = {
        "blk.0.attn_q.weight.lora_a": rng.standard_normal((2, 8)).astype(np.float32),
        "blk.0.attn_q.weight.lora_b": rng.standard_normal((8, 2)).astype(np.float32),
    }
    return write_adapter(tmp_path / "a.gguf", tensors, alpha=4.0, metadata=_metadata(base))


def test_metadata_round_trip(adapter_file, base):
    info = read_adapter(adapter_file)
    assert (info.role, info.prompt, info.rank, info.top_layers) == ("sentiment", "a1-adapter", 2, 1)
    assert info.alpha == 4.0 and info.temperature == 1.25
    assert info.base_size == base.stat().st_size
    assert info.provenance["dev_accuracy"] == {"dev.csv": 0.9}
    assert not adapter_file.with_name("a.gguf.part").exists()
    tensors = adapters.adapter_tensors(adapter_file)
    assert tensors["blk.0.attn_q.weight.lora_a"].shape == (2, 8)
    assert tensors["blk.0.attn_q.weight.lora_b"].shape == (8, 2)


def test_write_refuses_missing_metadata(tmp_path, base):
    meta = _metadata(base)
    del meta["temperature"]
    with pytest.raises(ValueError, match="temperature"):
        write_adapter(tmp_path / "b.gguf", {}, alpha=1.0, metadata=meta)


def test_bad_files_raise_adapter_error(tmp_path, adapter_file):
    with pytest.raises(AdapterError, match="not found"):
        read_adapter(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(AdapterError, match="not a readable GGUF"):
        read_adapter(junk)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(adapter_file.read_bytes()[:200])
    with pytest.raises(AdapterError):
        read_adapter(cut)


def test_fingerprint_tells_models_apart(adapter_file, base, tmp_path):
    info = read_adapter(adapter_file)
    assert fits_model(info, str(base))
    other = tmp_path / "other.gguf"
    data = bytearray(base.read_bytes())
    data[-1] ^= 0xFF  # same size, different last byte
    other.write_bytes(bytes(data))
    assert not fits_model(info, str(other))
    assert not fits_model(info, "Qwen/Qwen1.5-0.5B-Chat")


def test_select_adapter_rules(adapter_file, base, monkeypatch):
    assert select_adapter("sentiment", "none", str(base)) is None
    chosen = select_adapter("sentiment", str(adapter_file), str(base))
    assert chosen.path == str(adapter_file) and len(chosen.sha256) == 64
    with pytest.raises(AdapterError, match="not a 'chat' one"):
        select_adapter("chat", str(adapter_file), str(base))
    monkeypatch.setattr(adapters, "shipped_adapter", lambda role: read_adapter(adapter_file))
    assert select_adapter("sentiment", "auto", str(base)).path == str(adapter_file)
    assert select_adapter("sentiment", None, "/elsewhere/model.gguf") is None


def test_shipped_adapter_is_verified(tmp_path, monkeypatch, adapter_file):
    manifest = {"adapters": {"sentiment": {"file": adapter_file.name, "sha256": "f" * 64}}}
    monkeypatch.setattr(adapters, "_manifest", lambda: manifest)
    monkeypatch.setattr(adapters, "_data_path", lambda name: tmp_path / name)
    with pytest.raises(AdapterError, match="sha256"):
        adapters.shipped_adapter("sentiment")
    digest = adapters.sha256_file(adapter_file)
    manifest["adapters"]["sentiment"]["sha256"] = digest
    assert adapters.shipped_adapter("sentiment").sha256 == digest


def test_shipped_manifest_matches_its_files():
    manifest = adapters._manifest()
    for role, entry in manifest["adapters"].items():
        info = adapters.shipped_adapter(role)
        assert info.role == role and info.sha256 == entry["sha256"]
        assert json.dumps(info.to_dict())  # JSON-ready for `moodchat info --json`


def test_gguf_names_follow_llama_cpp():
    assert gguf_base_name("model.layers.3.self_attn.q_proj", 24) == "blk.3.attn_q.weight"
    assert gguf_base_name("base_model.model.model.layers.20.mlp.down_proj", 24) == (
        "blk.20.ffn_down.weight"
    )
    assert gguf_base_name("lm_head", 24) is None


def test_assistant_uses_adapter_for_sentiment_only(adapter_file):
    engine = FakeEngine()
    bot = Assistant(engine, RoleOptions(sentiment_adapter=str(adapter_file)))
    assert engine.adapters == [str(adapter_file)]
    assert bot.sentiment.prompt.name == "a1-adapter" and bot.sentiment.prompt.temperature == 1.25
    list(bot.respond("so happy today"))
    assert engine.scored_with == [1] and engine.generated_with == [None]
    assert bot.info()["sentiment_adapter"]["prompt"] == "a1-adapter"


def test_prompt_only_paths(adapter_file):
    engine = FakeEngine()
    named = RoleOptions(sentiment_prompt="v4-fewshot")
    assert choose_adapter("sentiment", engine, named) is None  # auto + a named prompt
    bot = Assistant(engine, RoleOptions(sentiment_adapter="none"))
    assert bot.sentiment_adapter is None and engine.adapters == []
    clash = RoleOptions(sentiment_prompt="v4-fewshot", sentiment_adapter=str(adapter_file))
    with pytest.raises(InputError, match="trained with prompt 'a1-adapter'"):
        choose_adapter("sentiment", engine, clash)
