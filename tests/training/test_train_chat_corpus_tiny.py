"""train-chat on a personal corpus and with the DPO preference stage, on the tiny Qwen2.

Random weights: replies mean nothing; what is checked is the data path (training split
only, safety situations left out, held-out split measured), that DPO moves the log-probs
toward the chosen replies (every step reported; a DPO stage alone skips the frozen layers'
pass), and that both data sets are in the adapter's provenance.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from moodchat.training.base import CACHE_STAGE
from moodchat.training.chat import ChatTrainConfig, corpus_conversations, train_chat
from moodchat.training.dpo import chosen_nll, dpo_loss
from moodchat.training.lora import TokenExample
from moodchat.weights.adapters import read_adapter

pytestmark = pytest.mark.hf

SITUATIONS = ["death_pet", "new_job", "self_harm"]


def _row(k: int, situation: str) -> dict:
    zh = k % 2 == 0
    user = f"我的猫走了，第{k}天" if zh else f"I got the job, day {k}!"
    reply = "很抱歉，它陪了你很久。" if zh else "Congratulations, that's wonderful news!"
    return {"id": f"t-{k}", "batch": "t-p01", "lang": "zh" if zh else "en",
            "situation": situation, "source": "written-for-moodchat",
            "messages": [{"role": "user", "content": user, "label": "negative", "hard": None},
                         {"role": "assistant", "content": reply}]}  # fmt: skip


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    personal, pref = root / "personal", root / "preference"
    (personal / "batches").mkdir(parents=True)
    rows = [_row(k, SITUATIONS[k % 3]) for k in range(12)]
    (personal / "batches" / "t-p01.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
    )
    (personal / "heldout_ids.txt").write_text("t-0\nt-1\n")
    (personal / "train_ids.txt").write_text("".join(f"t-{k}\n" for k in range(2, 12)))
    for kind in ("slices", "batches"):
        (pref / kind).mkdir(parents=True)
    slice_rows, written = [], []
    sorry = "I'm so sorry, he was with you a long time."
    for k in range(24):
        zh = k % 2 == 0
        slice_rows.append({"pair_id": f"p{k}", "conv_id": f"t-{k}", "lang": "zh" if zh else "en",
            "situation": "death_pet", "label": "negative", "hard": None, "context": [],
            "user": "我的猫走了" if zh else "my cat died",
            "chosen": "很抱歉，它陪了你很久。" if zh else sorry})  # fmt: skip
        written.append({"pair_id": f"p{k}", "rejected": "恭喜恭喜，太好了！" if zh else
            "Congratulations, what great news!", "kind": "opposite_valence",
            "source": "written-for-moodchat", "batch": "x-1"})  # fmt: skip
    for kind, lines in (("slices", slice_rows), ("batches", written)):
        (pref / kind / "x-1.jsonl").write_text(
            "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8"
        )
    return personal, pref


def test_corpus_conversations_leave_out_the_safety_situations(data_dirs):
    rows = [_row(k, SITUATIONS[k % 3]) for k in range(6)]
    convs = corpus_conversations(rows)
    assert len(convs) == 4 and all(c.source == "personal/t-p01" for c in convs)


def test_dpo_loss_prefers_the_chosen_side():
    zero = torch.zeros(3)
    better = dpo_loss(torch.ones(3), zero, zero, zero, beta=0.5)
    worse = dpo_loss(zero, torch.ones(3), zero, zero, beta=0.5)
    assert better < dpo_loss(zero, zero, zero, zero, beta=0.5) < worse


def test_chosen_nll_is_the_mean_per_token_negative_log_likelihood():
    rows = [TokenExample((1, 2, 3), (0, 1)), TokenExample((1, 2, 3, 4, 5), (0, 1, 2, 3))]
    summed = torch.tensor([-2.0, -8.0])  # per token: -1.0 and -2.0
    assert chosen_nll(summed, rows).item() == pytest.approx(1.5)


@pytest.fixture(scope="module")
def trained(tiny_qwen_dir, tiny_chat_dir, data_dirs, tmp_path_factory):
    personal, pref = data_dirs
    out = tmp_path_factory.mktemp("chat-corpus") / "tiny.gguf"
    config = ChatTrainConfig(
        model=str(tiny_qwen_dir), data_dir=str(tiny_chat_dir), out=str(out), per_source=2,
        everyday_repeat=0, holdout=1, top_layers=1, rank=4, epochs=2, batch_size=4, lr=2e-2,
        threads=1, corpus=str(personal), corpus_repeat=1, preference=str(pref),
        preference_epochs=4, preference_lr=1e-2, preference_beta=0.5,
    )  # fmt: skip
    reports: list[tuple] = []
    return out, train_chat(config, lambda *a: reports.append(a)), reports, config


def test_personal_heldout_is_measured_and_dpo_moves_toward_chosen(trained):
    _, meta, _, _ = trained
    measured = meta["provenance"]["measured"]
    assert measured["personal_heldout"]["n"] == 2  # t-0 (death_pet) and t-1 (new_job)
    pref = measured["preference"]
    assert pref["pairs_train"] + pref["pairs_heldout"] == 24 and pref["pairs_train"] > 15
    assert pref["train_reward_accuracy_after"] >= 0.9
    before, after = pref["heldout_chosen_logp_per_token"]
    assert before < 0 and after < 0 and len(pref["heldout_rejected_logp_per_token"]) == 2


def test_provenance_names_the_corpus_and_the_pairs(trained):
    out, meta, _, _ = trained
    data = read_adapter(out).provenance["data"]
    corpus_rec = next(d for d in data if d.get("corpus"))
    assert (
        corpus_rec["conversations"] == 6
    )  # t-2..t-11 less the four self_harm and "t-p01.jsonl" in corpus_rec["files"]
    pairs_rec = next(d for d in data if d.get("preference"))
    assert pairs_rec["pairs"] == 24 and "batches/x-1.jsonl" in pairs_rec["files"]


def test_every_dpo_step_is_reported_up_to_all_training_pairs_of_every_epoch(trained):
    _, meta, reports, _ = trained
    steps = [(done, total) for stage, done, total, _ in reports if stage == "preference training"]
    planned = meta["provenance"]["measured"]["preference"]["pairs_train"] * 4  # 4 epochs
    assert len(steps) >= 4 and steps[-1] == (planned, planned)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)


def test_a_preference_stage_alone_skips_the_frozen_layers_pass(trained, tmp_path):
    out, _, _, config = trained
    reports: list[tuple] = []
    alone = replace(config, out=str(tmp_path / "dpo.gguf"), epochs=0, init_adapter=str(out),
                    preference_epochs=1)  # fmt: skip
    train_chat(alone, lambda *a: reports.append(a))
    stages = {stage for stage, *_ in reports}
    assert CACHE_STAGE not in stages and "training" not in stages
    assert "preference training" in stages and read_adapter(alone.out).role == "chat"
