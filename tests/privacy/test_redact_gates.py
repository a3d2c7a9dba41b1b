"""The cheap checks that let detection skip work (digit counts, length, a needed character or word) never skip a
value: each text here is the shortest, or the poorest in digits, that its detector must still find."""

from __future__ import annotations

import pytest

from workprint.privacy.redact import Context, detect


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("pwd=hunter2x", "hunter2x", "PASSWORD"),  # shorter than any token shape
        ("ftp://a:pw@h.x/", "a:pw", "SECRET"),
        ("xoxb-1234567890", "xoxb-1234567890", "SECRET"),  # the shortest token shape, exactly
        ("ping abcd::ef", "abcd::ef", "IP"),  # IPv6 with no digit at all
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", "MAC"),  # no digit either
        ("card 501800000009", "501800000009", "CARD"),  # 12 digits: a card's fewest
        ("ssn 078051120", "078051120", "SSN"),  # 9 digits
        ("DOB: 1.2.85", "1.2.85", "DATE_OF_BIRTH"),  # 4 digits
        ("PSC 1234, Box 5678\nAPO AE 12345", "PSC 1234, Box 5678\nAPO AE 12345", "ADDRESS"),
        ("Löfflerstr. 62", "Löfflerstr. 62", "ADDRESS"),  # one digit, a German street glued to its name
        ("FLAT 5 BAKER STREET", "5 BAKER STREET", "ADDRESS"),  # a suffix in capitals
        ("me@ex.io", "me@ex.io", "EMAIL"),
        ("Dr Zorbl called", "Dr Zorbl", "NAME"),  # no listed name: only the title makes it one
        ("Hi Zoe", "Zoe", "NAME"),
        ("PASSWORD: Tr0ub4dor", "Tr0ub4dor", "PASSWORD"),  # a prompt in capitals (matched case-folded)
    ],
)
def test_a_value_at_the_edge_of_a_cheap_check_is_still_found(text: str, value: str, kind: str) -> None:
    found = [(text[s.start : s.end], s.type) for s in detect(text, Context())]
    assert (value, kind) in found, found
