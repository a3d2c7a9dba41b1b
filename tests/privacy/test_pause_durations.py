"""Pause durations, pause state and the automatic-pause decision."""

from __future__ import annotations

import pytest

from workprint.errors import ConfigError
from workprint.privacy.durations import format_duration, parse_duration
from workprint.privacy.pause import PauseState, auto_pause_reason, pause_for

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("1h0m5s", 3605), (" 10M ", 600)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30x", "30", "", "m", "-5m", "1.5h", "30m1h", "1h1h", "0s", "5 m", "1h 30m"])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_duration(text)
    msg = str(exc.value)
    assert msg.startswith("duration: ") and repr(text) in msg and "\n" not in msg


def test_format_duration_round_trips() -> None:
    for seconds in (1, 59, 61, 3600, 5400, 86_401):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(0) == "0s"


def test_pause_without_end_lasts_until_resumed() -> None:
    p = pause_for(100 * S, None)
    assert p.active(100 * S) and p.active(10**12 * S)
    assert not PauseState().active(100 * S)


def test_timed_pause_ends_by_itself() -> None:
    p = pause_for(100 * S, 30)
    assert p.active(129 * S)
    assert not p.active(130 * S)


def test_pause_state_round_trips_and_refuses_bad_values() -> None:
    p = pause_for(100 * S, 30)
    assert PauseState.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match=r"pause\.until_ns"):
        PauseState.from_dict({"paused": True, "until_ns": "soon"})
    with pytest.raises(ConfigError, match=r"pause\.paused"):
        PauseState.from_dict({"paused": "yes"})


def test_auto_pause_on_lock_and_after_idle_limit() -> None:
    assert auto_pause_reason(0.0, True, 300) == "screen locked"
    assert auto_pause_reason(299.9, False, 300) is None
    assert auto_pause_reason(300.0, False, 300) == "idle"
    assert auto_pause_reason(10_000.0, False, None) is None
    assert auto_pause_reason(10_000.0, False, 0) is None
