"""data/life-events/: the measurement-only set of clear-cut life events is what its
instructions ask for, and shares no message with the corpus the analyst trains on."""

from __future__ import annotations

from collections import Counter

from tests.script_loader import load_script

from moodchat.training import corpus

KEYS = {"id", "batch", "lang", "event", "label", "source", "text"}
SLICES = {"le1-zh-loss": 90, "le2-en-loss": 90, "le3-zh-good": 80, "le4-en-good": 80}


def _rows() -> list[dict]:
    return load_script("eval_life_events").load_messages()


def test_every_row_follows_the_schema_and_its_events_label():
    labels = load_script("eval_life_events").EVENT_LABEL
    rows = _rows()
    assert Counter(r["batch"] for r in rows) == SLICES
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == KEYS, r
        assert r["id"].startswith(r["batch"] + "-") and r["source"] == "written-for-moodchat"
        assert r["lang"] == r["batch"].split("-")[1], r
        assert corpus.text_language(r["text"]) == r["lang"], r
        assert labels[r["event"]] == r["label"], r


def test_each_slice_covers_its_events():
    rows = _rows()
    for batch in SLICES:
        events = Counter(r["event"] for r in rows if r["batch"] == batch)
        good = batch.endswith("good")
        assert len(events) == (12 if good else 15), (batch, events)
        assert min(events.values()) >= 4, (batch, events)


def test_no_message_is_a_near_duplicate_of_another_or_of_a_corpus_turn():
    texts = [r["text"] for r in _rows()]
    assert corpus.near_duplicates(texts) == []
    turns = [m["content"] for row in corpus.load_corpus() for m in corpus.user_turns(row)]
    pairs = corpus.near_duplicates(texts + turns)
    assert [(texts[i], turns[j - len(texts)]) for i, j, _ in pairs if i < len(texts) <= j] == []
