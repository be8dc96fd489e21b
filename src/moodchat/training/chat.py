"""``moodchat train-chat``: a LoRA adapter that makes the assistant's replies kind and sensible.

Contract:
- The base model is loaded through transformers from the GGUF llama.cpp serves
  (dequantized), as for the sentiment adapter, and the LoRA sits on the top ``top_layers``
  layers, whose frozen inputs are computed once (``moodchat.training.lora``).
- Each example is a whole conversation in the serving form: the adapter prompt's cached
  prefix in the conversation's language (``moodchat.roles.chat.chat_prefix_tokens``), then
  every turn through ``ChatML``. The loss is the next-token cross-entropy of the assistant
  turns only (their text and the end-of-turn token), so the adapter learns to answer and to
  stop, never to write the user's messages. A conversation longer than ``max_tokens`` keeps
  its first exchanges that fit.
- Data: the public counseling dialogues in ``data_dir`` (``*.jsonl``; a seeded sample of
  ``per_source`` usable conversations per file, cut to their first ``exchanges``) and the
  everyday conversations written for this project (``training/data/everyday_chat.jsonl``,
  ``everyday_repeat`` times). A seeded held-out slice of the mix measures the assistant
  tokens' loss before and after training.
- With ``init_adapter`` the LoRA continues from that trained chat adapter (same K and
  rank; its provenance is recorded among the data) and ``skip_steps`` passes over the
  batches of the seeded order it already learned, so a long run can be done in parts of
  a session's length; ``epochs=0`` with ``preference`` runs the DPO stage alone on it.
- The output is a GGUF LoRA adapter with role ``chat`` and the same metadata keys as the
  sentiment adapter (base sha256/size/fingerprint, prompt version, K, rank, provenance with
  files, sha256, counts, hyper-parameters and held-out losses).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from moodchat.prompts import chat_prompt
from moodchat.roles.chat import chat_prefix_tokens
from moodchat.training import corpus
from moodchat.training.base import (
    Report,
    cached_lower,
    corpus_record,
    data_records,
    fit_lora,
    init_record,
    load_base,
    write_trained_adapter,
)
from moodchat.training.conversations import (
    Conversation,
    conversation_mix,
    language_counts,
    read_conversations,
)
from moodchat.training.layers import SplitModel
from moodchat.training.lora import TokenExample, mean_loss, token_loss
from moodchat.types import Message
from moodchat.weights.adapters import adapter_tensors

ADAPTER_PROMPT = "c1-adapter"
# answered by the safety rule, not by a learned reply (the corpus labels them for its tests)
REPLY_EXCLUDED = frozenset({"self_harm", "hopelessness"})
EVERYDAY_FILE = "everyday_chat.jsonl"


@dataclass
class ChatTrainConfig:
    """Everything that decides the chat adapter; recorded in its provenance."""

    model: str
    data_dir: str
    out: str
    per_source: int = 400
    exchanges: int = 1
    everyday_repeat: int = 3
    holdout: int = 64
    max_tokens: int = 320
    top_layers: int = 6
    rank: int = 16
    alpha: float = 32.0
    epochs: int = 1
    batch_size: int = 8
    lr: float = 4e-4
    seed: int = 0
    threads: int | None = None
    prompt: str = ADAPTER_PROMPT
    cache_dir: str | None = None
    max_grad_norm: float | None = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps (None: all epochs)
    compute: str = "float32"  # the layers' matrix products (moodchat.training.layers)
    corpus: str | None = None  # data/personal: its training split's conversations
    corpus_repeat: int = 1
    preference: str | None = None  # data/preference: a DPO stage after the replies
    preference_epochs: int = 1
    preference_beta: float = 0.1
    preference_lr: float = 5e-5
    preference_nll: float = 1.0  # weight of the chosen replies' NLL beside DPO (0: DPO)
    init_adapter: str | None = None  # continue from this trained chat adapter (same K, rank)
    skip_steps: int = 0  # batches of the seeded order an earlier run already learned


def everyday_chat_path() -> Path:
    """The everyday conversations written for this project (package data)."""
    return Path(str(resources.files("moodchat.training").joinpath(f"data/{EVERYDAY_FILE}")))


def chat_conversations(
    config: ChatTrainConfig, rng: random.Random
) -> tuple[list[Conversation], list[dict]]:
    """(the training mix, file records with sha256) for ``config``."""
    files = sorted(Path(config.data_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no conversation JSONL files in {config.data_dir}")
    public = {f.name: read_conversations(f) for f in files}
    everyday = read_conversations(everyday_chat_path(), f"moodchat/training/data/{EVERYDAY_FILE}")
    mix = conversation_mix(
        public,
        everyday,
        per_source=config.per_source,
        exchanges=config.exchanges,
        everyday_repeat=config.everyday_repeat,
        rng=rng,
    )
    written = (everyday_chat_path(), f"moodchat/training/data/{EVERYDAY_FILE}", len(everyday))
    counts = {f: len(public[f.name]) for f in files}
    records = data_records(counts, written, "conversations")
    if config.corpus:
        train_rows, _ = corpus.split(corpus.load_corpus(Path(config.corpus)), Path(config.corpus))
        written_convs = corpus_conversations(train_rows)
        mix += written_convs * config.corpus_repeat
        rng.shuffle(mix)
        records.append(corpus_record(Path(config.corpus), len(written_convs), "conversations"))
    return mix, records


def corpus_conversations(rows) -> list[Conversation]:
    """The corpus's conversations as reply targets (not the safety rule's situations)."""
    out = []
    for row in rows:
        if row["situation"] in REPLY_EXCLUDED:
            continue
        msgs = tuple(Message(m["role"], m["content"]) for m in row["messages"])
        if len(msgs) >= 2 and len(msgs) % 2 == 0:
            out.append(Conversation(msgs, row["lang"], f"personal/{row['batch']}"))
    return out


def corpus_heldout(config: ChatTrainConfig) -> list[Conversation]:
    """The corpus's held-out conversations (measured, never trained on); none without it."""
    if not config.corpus:
        return []
    directory = Path(config.corpus)
    return corpus_conversations(corpus.split(corpus.load_corpus(directory), directory)[1])


class ConversationTokens:
    """Serving token sequences of conversations under one chat prompt, with loss positions."""

    def __init__(self, template, prompt, max_tokens: int) -> None:
        self.template, self.prompt, self.max_tokens = template, prompt, max_tokens

    def example(self, conv: Conversation) -> TokenExample | None:
        """The conversation as a ``TokenExample`` (None if not even one exchange fits)."""
        t = self.template
        tokens = chat_prefix_tokens(t, self.prompt, conv.lang)
        targets: list[int] = []
        for i in range(0, len(conv.messages), 2):
            user, reply = conv.messages[i], conv.messages[i + 1]
            head = t.turn("user", user.content) + t.open_turn("assistant")
            body = t.text(reply.content) + [t.im_end]
            if len(tokens) + len(head) + len(body) + 1 > self.max_tokens:
                break
            tokens += head
            # position p predicts tokens[p + 1]: learn every reply token and its end
            targets += range(len(tokens) - 1, len(tokens) + len(body) - 1)
            tokens += body + t.close_turn()[1:]
        if not targets:
            return None
        return TokenExample(tuple(tokens), tuple(targets))


def _examples(seqs: ConversationTokens, convs: list[Conversation]) -> list[TokenExample]:
    return [e for e in (seqs.example(c) for c in convs) if e is not None]


def _heldout_losses(config, split, peft_model, examples, report: Report) -> dict:
    """The assistant tokens' mean loss on held-out conversations, base and adapted."""
    cached = cached_lower(config, split, examples, report, stage="held-out check", store=False)
    loss = token_loss(split)
    with peft_model.disable_adapter():
        base = mean_loss(examples, cached, loss)
    return {"n": len(examples), "base_loss": round(base, 4), "adapter_loss": round(
        mean_loss(examples, cached, loss), 4)}  # fmt: skip


def train_chat(config: ChatTrainConfig, report: Report) -> dict:
    """Train, measure and write the chat adapter; returns its metadata."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    convs, records = chat_conversations(config, rng)
    heldout, train_convs = convs[: config.holdout], convs[config.holdout :]
    engine, template = load_base(config)
    prompt = chat_prompt(config.prompt)
    seqs = ConversationTokens(template, prompt, config.max_tokens)
    split = SplitModel(engine.model, config.top_layers, config.compute)
    train_examples = _examples(seqs, train_convs)
    init = adapter_tensors(config.init_adapter) if config.init_adapter else None
    if config.init_adapter:
        records.append(init_record(config.init_adapter))
    peft_model, losses = fit_lora(config, split, train_examples, token_loss(split), report, init)
    measured = {
        "holdout": _heldout_losses(config, split, peft_model, _examples(seqs, heldout), report)
    }
    personal = _examples(seqs, corpus_heldout(config))
    if personal:
        measured["personal_heldout"] = _heldout_losses(config, split, peft_model, personal, report)
    if config.preference:
        from moodchat.training.dpo import preference_stage

        measured["preference"], pairs_record = preference_stage(
            config, split, peft_model, template, prompt, report
        )
        records.append(pairs_record)
    return write_trained_adapter(
        config, "chat", prompt_name=prompt.name, temperature=1.0, peft_model=peft_model,
        split=split, started=start, losses=losses, records=records,
        conversations=language_counts(train_convs),
        examples=len(train_examples),
        tokens=sum(len(e.tokens) for e in train_examples),
        learned_tokens=sum(len(e.targets) for e in train_examples),
        measured=measured,
    )  # fmt: skip
