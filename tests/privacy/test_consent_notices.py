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
    rules = ({"kind": "app", "value": "Slack"},)
    p = replace(DEFAULT_PROGRAM, exclusions=rules, retention_days=90, frame_format="webp")
    assert Program.from_dict(p.to_dict()) == p
    older = {k: v for k, v in p.to_dict().items() if k != "frame_format"}  # a state file written before the field
    assert Program.from_dict(older).frame_format == "auto"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"scopes": ()}, "program.scopes"),
        ({"scopes": ("keys", "keys")}, "duplicate"),
        ({"retention_days": 0}, "program.retention_days"),
        ({"reconfirm_days": -1}, "program.reconfirm_days"),
        ({"id": " "}, "program.id"),
        ({"purpose": ""}, "program.purpose"),
        ({"frame_format": "png"}, r"program\.frame_format: expected one of auto, jpeg, webp, got 'png'"),
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


def test_the_frame_format_follows_the_settings_then_the_program_then_the_agents_cpu() -> None:
    from workprint.agent import AUTO_JPEG_ABOVE_CPU, AUTO_WEBP_BELOW_CPU, choose_frame_format

    assert choose_frame_format("jpeg", "webp", 0.0) == "jpeg"  # an explicit setting wins
    assert choose_frame_format("", "webp", 90.0) == "webp"  # the program's choice, whatever the CPU
    assert choose_frame_format("", "jpeg", 0.0) == "jpeg"
    assert choose_frame_format("", "auto", AUTO_WEBP_BELOW_CPU / 2) == "webp"  # room to spare: smaller frames
    assert choose_frame_format("", "auto", AUTO_WEBP_BELOW_CPU * 2) == "jpeg"  # busy: the cheap encoder
    between = (AUTO_WEBP_BELOW_CPU + AUTO_JPEG_ABOVE_CPU) / 2  # in between, the format stays as it is
    assert choose_frame_format("", "auto", between, "webp") == "webp"
    assert choose_frame_format("", "auto", between, "jpeg") == "jpeg"
    assert choose_frame_format("", "auto", AUTO_JPEG_ABOVE_CPU * 2, "webp") == "jpeg"
