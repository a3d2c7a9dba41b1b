"""start() fails with one clear line when there is nothing to record."""

from __future__ import annotations

import pytest

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.errors import CaptureError
from workprint.models import Event

pytestmark = pytest.mark.x11


def _sink(event: Event, data: bytes | None) -> None:
    raise AssertionError("no event expected")


def test_no_display_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CaptureError) as err:
        X11Capture(None, _sink, AgentSettings()).start()
    assert str(err.value) == "DISPLAY: not set"


def test_a_display_that_cannot_be_opened_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":59999")
    with pytest.raises(CaptureError) as err:
        X11Capture(None, _sink, AgentSettings()).start()
    assert str(err.value) == "DISPLAY: cannot open ':59999'"


def test_a_server_without_record_is_refused() -> None:
    no_record = VirtualDisplay(320, 200, window_manager=False, extra_args=("-extension", "RECORD"))
    with no_record as vd, pytest.raises(CaptureError) as err:
        X11Capture(vd.display, _sink, AgentSettings()).start()
    assert str(err.value) == f"DISPLAY: {vd.display!r} has no RECORD extension"
