"""Blind pairing: no trace of the version in the pairs, the key unblinds every count."""

import json

import pytest

from moodchat.evaluation.blind import make_pairs, unblind, verdict_errors, version_replies


def _items(n):
    return [
        {"item": f"i{k}", "source": "heldout" if k % 2 else "scripts", "shown": [], "user": f"u{k}"}
        for k in range(n)
    ]


def test_pairs_hide_the_versions_and_the_key_recovers_them():
    items = _items(40)
    a = [f"A says {k}" for k in range(40)]
    b = [f"B says {k}" for k in range(40)]
    pairs, key = make_pairs(items, a, b, seed=3)
    text = json.dumps(pairs)
    assert '"a"' not in text and "side_1" not in text
    assert [p["pair"] for p in pairs] == list(range(1, 41))
    assert [p["user"] for p in pairs] != [i["user"] for i in items]  # shuffled order
    firsts = [key["sides"][str(p["pair"])]["side_1"] for p in pairs]
    assert 5 < firsts.count("a") < 35  # sides drawn per pair, not fixed
    for p in pairs:
        side = key["sides"][str(p["pair"])]
        k = int(side["item"][1:])
        expect = (a[k], b[k]) if side["side_1"] == "a" else (b[k], a[k])
        assert (p["reply_1"], p["reply_2"]) == expect


def test_same_seed_same_pairs():
    items, a, b = _items(10), list("abcdefghij"), list("ABCDEFGHIJ")
    assert make_pairs(items, a, b, seed=1) == make_pairs(items, a, b, seed=1)
    assert make_pairs(items, a, b, seed=1) != make_pairs(items, a, b, seed=2)


def test_unblind_counts_each_version_from_a_reader_who_always_likes_a():
    items = _items(20)
    a, b = [f"good {k}" for k in range(20)], [f"bad {k}" for k in range(20)]
    pairs, key = make_pairs(items, a, b, seed=0)
    verdicts = []
    for p in pairs:
        good_first = p["reply_1"].startswith("good")
        verdicts.append(
            {
                "pair": p["pair"],
                "reply_1": "sensible" if good_first else "misread",
                "reply_2": "misread" if good_first else "sensible",
                "prefer": "1" if good_first else "2",
            }
        )
    assert verdict_errors(pairs, verdicts) == []
    result = unblind(key, verdicts, pairs)["all"]
    assert result["a"]["sensible"] == 20 and result["a"]["bad_rate"] == 0
    assert result["b"]["misread"] == 20 and result["b"]["bad_rate"] == 1
    assert result["prefer"]["a_share_of_decided"] == 1.0
    per_source = unblind(key, verdicts, pairs)
    assert per_source["heldout"]["a"]["replies"] == 10


def test_identical_replies_are_counted_apart_from_the_differing_pairs():
    items = _items(6)
    a = ["same reply", "same reply", "a 2", "a 3", "a 4", "a 5"]
    b = ["same reply", "same reply", "b 2", "b 3", "b 4", "b 5"]
    pairs, key = make_pairs(items, a, b, seed=3)
    verdicts = [
        {"pair": p["pair"], "reply_1": "sensible", "reply_2": "sensible", "prefer": "neither"}
        if p["reply_1"] == p["reply_2"]
        else {"pair": p["pair"], "reply_1": "nonsense", "reply_2": "nonsense", "prefer": "1"}
        for p in pairs
    ]
    result = unblind(key, verdicts, pairs)
    assert result["identical_pairs"] == 2
    assert result["all"]["a"]["sensible"] == 2 and result["all"]["a"]["replies"] == 6
    differing = result["differing"]
    assert differing["a"]["replies"] == 4 and differing["a"]["sensible"] == 0
    assert differing["a"]["bad_rate"] == 1 and differing["prefer"]["neither"] == 0


def test_verdict_errors_name_missing_twice_and_unknown():
    pairs, _ = make_pairs(_items(3), ["x"] * 3, ["y"] * 3)
    verdicts = [
        {"pair": 1, "reply_1": "sensible", "reply_2": "great", "prefer": "1"},
        {"pair": 1, "reply_1": "sensible", "reply_2": "misread", "prefer": "maybe"},
    ]
    errors = verdict_errors(pairs, verdicts)
    assert any("'great'" in e for e in errors)
    assert any("'maybe'" in e for e in errors)
    assert "pair 1 judged 2 times" in errors
    assert "pair 2 not judged" in errors and "pair 3 not judged" in errors


def test_lengths_must_match():
    with pytest.raises(ValueError):
        make_pairs(_items(2), ["x"], ["y", "z"])


def test_version_replies_recover_each_side_by_its_name():
    items = _items(12)
    a, b = [f"A{k}" for k in range(12)], [f"B{k}" for k in range(12)]
    pairs, key = make_pairs(items, a, b, seed=5)
    key.update({"a": "new.gguf", "b": "shipped"})
    assert version_replies(pairs, key, "shipped") == {f"i{k}": f"B{k}" for k in range(12)}
    assert version_replies(pairs, key, "new.gguf") == {f"i{k}": f"A{k}" for k in range(12)}
    with pytest.raises(ValueError, match="neither side"):
        version_replies(pairs, key, "none")
