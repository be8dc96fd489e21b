"""``moodchat train-*``'s own behaviour, without training: what it tells the user first."""

from __future__ import annotations

import pytest

from moodchat.cli.train import _warn_if_emulated
from moodchat.training import layers

pytestmark = pytest.mark.hf


def _said(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_is_warned_about_only_where_the_cpu_would_emulate_it(monkeypatch, capsys, native):
    monkeypatch.setattr(layers, "native_bfloat16", lambda: native)
    _warn_if_emulated("bfloat16")
    said = _said(capsys)
    if native:
        assert said == ""
    else:
        assert "no native bfloat16" in said and "--compute float32" in said
    _warn_if_emulated("float32")
    assert _said(capsys) == ""
