"""The preference pairs written for moodchat pass their checker; the checker catches faults."""

import json

from moodchat.training import corpus
from moodchat.training.preference import (
    check_slice,
    line_errors,
    load_pairs,
    preference_dir,
    slice_names,
)


def test_every_slice_passes_and_the_set_is_big_enough():
    directory = preference_dir()
    names = slice_names(directory)
    assert {n.split("-")[0] for n in names} == {"zh", "en"}
    for name in names:
        errors, _ = check_slice(directory, name)
        assert errors == [], errors[:5]
    pairs = load_pairs(directory)
    assert len(pairs) >= 300
    langs = [p["lang"] for p in pairs]
    assert min(langs.count("zh"), langs.count("en")) >= 0.4 * len(pairs)


def test_pairs_come_only_from_the_training_split():
    directory = corpus.corpus_dir()
    heldout = corpus.read_ids(directory, corpus.HELDOUT_FILE)
    pairs = load_pairs(preference_dir())
    assert not {p["conv_id"] for p in pairs} & heldout
    assert all(p["situation"] not in {"self_harm", "hopelessness"} for p in pairs)


def _pair():
    chosen = "I'm so sorry about your dog. Losing him this morning must hurt."
    return {"pair_id": "x-t0", "lang": "en", "user": "My dog died this morning.", "chosen": chosen}


def _written(**over):
    base = {"pair_id": "x-t0", "rejected": "Congratulations on the new dog, what a morning!",
            "kind": "opposite_valence", "source": corpus.SOURCE, "batch": "en-9"}  # fmt: skip
    return {**base, **over}


def test_line_errors_find_each_fault():
    assert line_errors(_pair(), _written(), "en-9") == []
    assert "language" in line_errors(
        _pair(), _written(rejected="恭喜你养了一只新狗，太好了！"), "en-9"
    )
    assert any(e.startswith("kind") for e in line_errors(_pair(), _written(kind="x"), "en-9"))
    assert any(e.startswith("batch") for e in line_errors(_pair(), _written(), "en-1"))
    assert any(
        e.startswith("length") for e in line_errors(_pair(), _written(rejected="Yay!"), "en-9")
    )
    same = _written(rejected=_pair()["chosen"])
    assert "same as chosen" in line_errors(_pair(), same, "en-9")
    listed = _written(rejected="Great news!\n- get a new puppy\n- celebrate tonight")
    assert "list" in line_errors(_pair(), listed, "en-9")


def test_check_slice_counts_missing_twice_and_share(tmp_path):
    (tmp_path / "slices").mkdir()
    (tmp_path / "batches").mkdir()
    moments = [{**_pair(), "pair_id": f"x-t{k}"} for k in range(3)]
    (tmp_path / "slices" / "en-9.jsonl").write_text("".join(json.dumps(m) + "\n" for m in moments))
    lines = [
        _written(pair_id="x-t0"),
        _written(pair_id="x-t0"),
        _written(pair_id="x-t1", kind="belittling"),
    ]
    (tmp_path / "batches" / "en-9.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    errors, _ = check_slice(tmp_path, "en-9")
    assert "en-9: x-t0 written 2 times" in errors
    assert "en-9: x-t2 missing" in errors
    assert not any("under" in e for e in errors)  # 2 of 3 opposite


def test_own_replies_judged_bad_become_pairs_and_faults_are_named(tmp_path):
    from moodchat.training.preference import load_own_pairs, own_errors, own_summary

    (tmp_path / "slices").mkdir()
    (tmp_path / "own").mkdir()
    moments = [{**_pair(), "pair_id": f"x-t{k}"} for k in range(3)]
    (tmp_path / "slices" / "en-9.jsonl").write_text("".join(json.dumps(m) + "\n" for m in moments))
    replies = [{"pair_id": f"x-t{k}", "reply": f"reply {k}", "version": "shipped", "seed": k}
               for k in range(3)]  # fmt: skip
    (tmp_path / "own" / "en-9.replies.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in replies)
    )
    verdicts = [{"pair_id": "x-t0", "verdict": "misread", "note": "congratulates a loss"},
                {"pair_id": "x-t1", "verdict": "sensible", "note": ""}]  # fmt: skip
    path = tmp_path / "own" / "en-9.verdicts.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    assert own_errors(tmp_path) == ["own/en-9: x-t2 not judged"]
    pairs = load_own_pairs(tmp_path)
    assert [(p["pair_id"], p["rejected"], p["kind"]) for p in pairs] == [
        ("x-t0", "reply 0", "own_misread")
    ]
    assert pairs[0]["chosen"] == moments[0]["chosen"]
    assert own_summary(tmp_path)["en-9"]["misread"] == 1 and own_summary(tmp_path)["pairs"] == 1
    verdicts.append({"pair_id": "x-t2", "verdict": "meh", "note": ""})
    path.write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    assert own_errors(tmp_path) == ["own/en-9: x-t2: verdict 'meh'"]


def test_the_own_verdicts_in_the_repo_are_complete():
    from moodchat.training.preference import own_errors

    assert own_errors(preference_dir()) == []
