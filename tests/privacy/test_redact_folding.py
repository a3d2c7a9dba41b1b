"""Case-folded matching keeps the input's offsets, also where lower-casing changes the text's length."""

from __future__ import annotations

import re

from workprint.privacy.redact import Context, redact_text
from workprint.privacy.redact.detectors.folding import finditer_folded, search_folded

_WORD = re.compile(r"secret")


def test_folded_matches_carry_the_inputs_offsets() -> None:
    text = "My SECRET and my Secret"
    assert [m.span() for m in finditer_folded(_WORD, text)] == [(3, 9), (17, 23)]


def test_text_whose_lower_case_is_longer_falls_back_to_ignorecase() -> None:
    text = "İİ SeCrEt"  # "İ".lower() is two characters: folded offsets would be off by two
    assert len(text.lower()) != len(text)
    assert [m.span() for m in finditer_folded(_WORD, text)] == [(3, 9)]
    assert search_folded(_WORD, text, 2, 9)
    assert not search_folded(_WORD, text, 4, 9)


def test_window_search_sees_the_character_before_the_window() -> None:
    cue = re.compile(r"\bid\W*$")
    assert search_folded(cue, "order ID ", 6, 9)
    assert not search_folded(cue, "paid ", 2, 5)  # "id" inside "paid" is no cue although the window starts at "i"


def test_redaction_offsets_hold_next_to_dotted_capital_i() -> None:
    text = "İstanbul office, Password: Hunter2x!"
    res = redact_text(text, Context(app="xterm", title="İSTANBUL"))
    assert text[res.spans[-1].start : res.spans[-1].end] == "Hunter2x!"
    assert res.text.endswith("Password: <PASSWORD>")
