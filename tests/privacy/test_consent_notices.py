"""Programs and notices: validation names the field and value; programs round-trip through the state file form."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from workprint.errors import ConfigError, ConsentError
from workprint.privacy.notices import DEFAULT_PROGRAM, Notice, Program, parse_scope


def test_default_program_asks_for_every_scope_with_a_30_day_reconfirmation() -> None:
    assert set(DEFAULT_PROGRAM.scopes) == {"keys", "mouse", "screenshots", "window_titles", "app_names"}
    assert DEFAULT_PROGRAM.reconfirm_days == 30
    assert DEFAULT_PROGRAM.reconfirm_ns == 30 * 86_400 * 10**9


def test_program_round_trips() -> None:
    p = replace(DEFAULT_PROGRAM, exclusions=({"kind": "app", "value": "Slack"},), retention_days=90)
    assert Program.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"scopes": ()}, "program.scopes"),
        ({"scopes": ("keys", "keys")}, "duplicate"),
        ({"retention_days": 0}, "program.retention_days"),
        ({"reconfirm_days": -1}, "program.reconfirm_days"),
        ({"id": " "}, "program.id"),
        ({"purpose": ""}, "program.purpose"),
    ],
)
def test_invalid_program_names_the_field(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        replace(DEFAULT_PROGRAM, **change)


def test_program_with_an_unknown_scope_names_it() -> None:
    d = DEFAULT_PROGRAM.to_dict()
    d["scopes"] = ["keys", "webcam"]
    with pytest.raises(ConsentError, match="'webcam'"):
        Program.from_dict(d)
    del d["notice"]
    with pytest.raises(ConfigError, match=r"program\.notice: missing"):
        Program.from_dict(d)


def test_notice_needs_a_version_and_text() -> None:
    with pytest.raises(ConfigError, match=r"notice\.version"):
        Notice("", "text")
    with pytest.raises(ConfigError, match=r"notice\.text"):
        Notice("3", "  ")


def test_parse_scope() -> None:
    assert parse_scope("screenshots") == "screenshots"
    with pytest.raises(ConsentError, match="'Keys'"):
        parse_scope("Keys")
