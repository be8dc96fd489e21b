"""Input validation: clear errors or defined truncation, never a crash."""

from __future__ import annotations

import pytest

from moodchat.errors import InputError
from moodchat.inputs import MAX_TEXT_CHARS, clean_text, head_tail, language_of


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", None, 42, ["a"]])
def test_empty_or_wrong_type_is_refused(bad):
    with pytest.raises(InputError):
        clean_text(bad)


def test_invalid_utf8_bytes_name_the_offset():
    with pytest.raises(InputError, match="offset 2"):
        clean_text(b"ok\xff\xfe")


def test_surrogate_escaped_text_is_refused():
    smuggled = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(InputError, match="UTF-8"):
        clean_text(smuggled)


def test_one_megabyte_is_refused_with_the_limit():
    with pytest.raises(InputError, match=str(MAX_TEXT_CHARS)):
        clean_text("好" * 1_000_000)


def test_valid_text_is_stripped_and_nul_free():
    assert clean_text("  hi\x00 there \n") == "hi there"
    assert clean_text("心情不错".encode()) == "心情不错"


def test_head_tail_keeps_both_ends():
    kept, cut = head_tail(list(range(10)), 4)
    assert (kept, cut) == ([0, 1, 8, 9], True)
    assert head_tail([1, 2], 4) == ([1, 2], False)


def test_language_of():
    assert language_of("今天很开心") == "zh"
    assert language_of("so happy today") == "en"
