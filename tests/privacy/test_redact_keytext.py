"""Rebuilding typed text from strokes, and mapping each detected value back to every stroke behind it."""

from __future__ import annotations

from workprint.privacy.redact import redact_logged
from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.keytext import (
    BACKSPACE,
    CHAR,
    DELETE,
    END,
    HOME,
    LEFT,
    WORD_BACKSPACE,
    ops_from_logged_text,
    rebuild,
    sources_of_values,
)


def typed(text: str) -> list[tuple[int, str, str]]:
    return [(i, CHAR, c) for i, c in enumerate(text)]


def test_backspace_typo_rebuilds_and_maps_deleted_strokes_to_the_value() -> None:
    logged = "mail jonh\b\bhn@example.com now"
    rebuilt = rebuild(ops_from_logged_text(logged))
    assert rebuilt.text == "mail john@example.com now"
    values = sources_of_values(rebuilt, detect)  # once on the rebuilt text, once on the raw stream
    assert {kind for kind, _ in values} == {"EMAIL"}
    final_text_strokes = values[0][1]
    # every stroke from 'j' to 'm', the wrong 'n', 'h' and both Backspaces included; nothing of "mail " or " now"
    assert final_text_strokes == frozenset(range(5, logged.index(" now")))


def test_arrows_home_end_and_delete_edit_in_place() -> None:
    ops = typed("bob@exmple.com")  # strokes 0..13
    ops += [(14, LEFT, "")] * 1 + [(15, HOME, "")] + [(16, DELETE, "")] + [(17, CHAR, "B"), (18, END, "")]
    rebuilt = rebuild(ops)
    assert rebuilt.text == "Bob@exmple.com"
    # insert the missing 'a' after "ex" by walking there with arrows
    ops2 = typed("bob@exmple.com") + [(14, HOME, "")] + [(15 + k, "right", "") for k in range(6)] + [(21, CHAR, "a")]
    r2 = rebuild(ops2)
    assert r2.text == "bob@example.com"
    (kind, strokes), *_ = sources_of_values(r2, detect)
    assert kind == "EMAIL" and {*range(14), 21} <= strokes


def test_deleted_b_is_carried_to_the_retyped_character() -> None:
    rebuilt = rebuild(typed("ab") + [(2, BACKSPACE, ""), (3, CHAR, "c")])
    assert rebuilt.text == "ac"
    assert rebuilt.sources == ((0,), (1, 2, 3))


def test_word_backspace_removes_the_word_and_its_strokes_stay_attached() -> None:
    rebuilt = rebuild(typed("hello wrold") + [(11, WORD_BACKSPACE, "")] + typed("world"))
    assert rebuilt.text == "hello world"
    assert rebuilt.raw_text == "hello wroldworld"


def test_fully_deleted_value_is_still_found_on_the_raw_stream() -> None:
    logged = "x a@b.com" + "\b" * 7 + " rest"
    res = redact_logged(logged)
    assert [(s.start, s.end, s.type) for s in res.spans] == [(2, 16, "EMAIL")]
    assert "a@b" not in res.text


def test_logged_text_spans_are_in_input_coordinates() -> None:
    logged = "card 4111 1111 1111 11\b\b1111 ok"
    res = redact_logged(logged)
    assert [(s.start, s.end, s.type) for s in res.spans] == [(5, logged.index(" ok"), "CARD")]
    assert res.text == "card <CARD> ok"


def test_end_and_left_moves_settle_pending_deletions_on_the_neighbour() -> None:
    rebuilt = rebuild(typed("abc") + [(3, BACKSPACE, ""), (4, LEFT, ""), (5, END, "")])
    assert rebuilt.text == "ab" and rebuilt.sources[-1] == (1, 2, 3)
