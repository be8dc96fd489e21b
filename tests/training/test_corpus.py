"""The personal-conversation corpus (data/personal/) and its checker."""

from __future__ import annotations

import json

import pytest

from moodchat.training import corpus
from moodchat.training.data import corpus_turns

SITUATIONS = {"admission": "good_news", "death_pet": "loss_health"}


def row(rid="b09-zh-x-0001", situation="admission", turns=None) -> dict:
    turns = turns or [("考上了！", "positive", None, "恭喜你！努力终于有了回报。")]
    messages = []
    for user, label, hard, reply in turns:
        messages.append({"role": "user", "content": user, "label": label, "hard": hard})
        messages.append({"role": "assistant", "content": reply})
    return {"id": rid, "batch": "b09-zh-x", "lang": "zh", "situation": situation,
            "source": corpus.SOURCE, "messages": messages}  # fmt: skip


def test_a_good_row_has_no_errors():
    assert corpus.row_errors(row(), SITUATIONS) == []


@pytest.mark.parametrize(
    ("turns", "needle"),
    [
        ([("考上了！", "positive", None, "Congratulations, well done!")], "language"),
        ([("考上了！", "positive", None, "恭喜！\n1. 庆祝\n2. 休息")], "list"),
        ([("考上了！", "happy", None, "恭喜你！")], "label must be"),
        ([("考上了！", "positive", "sarcasm", "恭喜你！")], "hard must be"),
        ([("考上了！", "positive", None, "哪所学校？什么专业？")], "more than one question"),
        ([("考上了！", "positive", None, "作为一个AI，我为你高兴。")], "as an AI"),
        ([("考上了！", "positive", None, "好" * 200)], "length"),
    ],
)
def test_row_errors_catch_what_the_corpus_must_not_hold(turns, needle):
    errors = corpus.row_errors(row(turns=turns), SITUATIONS)
    assert any(needle in e for e in errors), errors


def test_schema_errors():
    assert corpus.row_errors(row(situation="unknown"), SITUATIONS)
    bad = row()
    bad["messages"] = bad["messages"][:1]
    assert corpus.row_errors(bad, SITUATIONS)
    assert corpus.row_errors({**row(), "source": "web"}, SITUATIONS)


def test_the_reply_follows_the_language_of_the_turn_it_answers():
    switch = row(
        turns=[
            ("考上了！", "positive", None, "恭喜你！"),
            ("thanks, still shaking", "positive", None, "Enjoy every second of it."),
        ]
    )
    assert corpus.row_errors(switch, SITUATIONS) == []
    assert corpus.is_switch(switch)


def test_near_duplicates_are_found_by_5gram_jaccard():
    texts = ["my dog died this morning, he was 13", "My dog died this morning he was 13!",
             "the parcel is two weeks late", "累", "累"]  # fmt: skip
    pairs = {(i, j) for i, j, _ in corpus.near_duplicates(texts)}
    assert pairs == {(0, 1), (3, 4)}


def test_heldout_is_a_tenth_of_every_stratum_and_never_moves(tmp_path):
    rows = [row(f"b09-zh-x-{i:04d}", s) for s in SITUATIONS for i in range(40)]
    assert corpus.split(rows, tmp_path) == ([], [])  # nothing placed yet: nothing to train on
    held_ids = corpus.assign_heldout(rows, tmp_path)
    train, held = corpus.split(rows, tmp_path)
    assert len(held) == 8 and len(train) == 72
    assert {r["situation"] for r in held} == set(SITUATIONS)
    assert corpus.split(list(reversed(rows)), tmp_path)[1] == list(reversed(held))
    grown = rows + [row(f"b10-zh-y-{i:04d}", "admission") for i in range(20)]
    assert corpus.assign_heldout(grown, tmp_path) >= held_ids  # placed rows stay placed
    train2, held2 = corpus.split(grown, tmp_path)
    assert {r["id"] for r in held} <= {r["id"] for r in held2}
    assert len(held2) == 10 and not {r["id"] for r in train2} & {r["id"] for r in held2}


def test_corpus_turns_carry_their_previous_user_turn():
    r = row(
        situation="death_pet",
        turns=[
            ("我的猫今天走了", "negative", None, "抱抱你。"),
            ("它陪了我十四年", "negative", "calm_words_bad_news", "十四年，是一辈子的陪伴。"),
        ],
    )
    first, second = corpus_turns([r])
    assert (first.context, second.context) == (None, "我的猫今天走了")
    assert (second.label, second.hard) == ("negative", "calm_words_bad_news")


def test_the_checker_reads_a_file_and_reports_bad_json(tmp_path):
    f = tmp_path / "b.jsonl"
    f.write_text(json.dumps(row(), ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    report = corpus.check_corpus(corpus.read_rows([f]), SITUATIONS)
    assert len(report.errors) == 1 and "not JSON" in report.errors[0]
    assert report.counts["size"]["conversations"] == 1


def test_the_shipped_corpus_passes_its_checker_and_meets_its_bounds():
    directory = corpus.corpus_dir()
    situations = corpus.load_situations(directory)
    assert len(situations) >= 60
    report = corpus.check_corpus(corpus.load_corpus(directory), situations, directory)
    assert report.errors == []
    assert report.duplicates == []
    assert report.failures() == []
    assert set(report.counts["situations"]) == set(situations)
    # the held-out split covers every (situation, language) stratum
    assert len(report.counts["heldout_strata"]) == 2 * len(situations)
    assert all(r["source"] == corpus.SOURCE for r in corpus.load_corpus(directory))


def test_a_decimal_number_is_not_a_list():
    turns = [("结果出来了", "positive", None, "1.2毫米，稳稳的好结果！\n2.5公斤的宝宝也很健康。")]
    assert corpus.row_errors(row(turns=turns), SITUATIONS) == []
