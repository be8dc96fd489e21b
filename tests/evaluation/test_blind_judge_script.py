"""scripts/blind_judge.py: a play's replies are reused only at the temperature they were played."""

import argparse
import json
from pathlib import Path

import pytest

from moodchat.engine.sampling import SamplingParams
from script_loader import load_script


def test_a_side_plays_at_its_own_temperature_and_b_at_the_recorded_default():
    played = load_script("blind_judge").played_temperature
    key = {"a": "x.gguf", "b": "shipped", "a_temperature": 0.1, "serving_temperature": 0.3}
    assert played(key, "x.gguf") == 0.1 and played(key, "shipped") == 0.3
    assert played({"a": "x.gguf", "b": "shipped"}, "shipped") == 0.7  # older plays


def _play_dir(tmp_path: Path, key: dict) -> Path:
    items = ["s-t0", "s-t1"]
    pairs = [{"pair": i + 1, "reply_1": f"a{i}", "reply_2": f"b{i}"} for i in range(2)]
    sides = {str(i + 1): {"item": it, "side_1": "a"} for i, it in enumerate(items)}
    key = {"seed": 0, "max_tokens": 128, **key, "sides": sides}
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    (tmp_path / "key.json").write_text(json.dumps(key))
    return tmp_path


@pytest.mark.parametrize("serving", [None, 0.7, SamplingParams().temperature])
def test_replies_are_reused_only_when_played_at_the_serving_temperature(tmp_path, serving):
    module = load_script("blind_judge")
    key = {"a": "shipped", "b": "none"}
    if serving is not None:
        key["serving_temperature"] = serving
    args = argparse.Namespace(
        reuse=_play_dir(tmp_path, key), seed=0, max_tokens=128, b="shipped", b_temperature=None
    )
    items = [{"item": "s-t0"}, {"item": "s-t1"}]
    played = serving if serving is not None else 0.7
    if played == SamplingParams().temperature:
        assert module.earlier_replies(args, items) == ["a0", "a1"]
    else:
        with pytest.raises(SystemExit, match="temperature"):
            module.earlier_replies(args, items)


def test_a_side_asked_for_at_its_old_temperature_is_reused(tmp_path):
    module = load_script("blind_judge")
    key = {"a": "shipped", "b": "none", "serving_temperature": 0.7}
    args = argparse.Namespace(
        reuse=_play_dir(tmp_path, key), seed=0, max_tokens=128, b="shipped", b_temperature=0.7
    )
    assert module.earlier_replies(args, [{"item": "s-t0"}, {"item": "s-t1"}]) == ["a0", "a1"]
    key_b = {"a": "x.gguf", "b": "shipped", "b_temperature": 0.5, "serving_temperature": 0.3}
    assert module.played_temperature(key_b, "shipped") == 0.5
