"""Fixtures for capture tests: a private Xvfb (+openbox), a recording sink and a running X11Capture."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Iterator

import pytest
from xrecorder import Recorder

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings


@pytest.fixture(scope="module")
def vd() -> Iterator[VirtualDisplay]:
    with VirtualDisplay(1280, 800) as display:
        yield display


@pytest.fixture(scope="module")
def xdo(vd: VirtualDisplay) -> Callable[[str], None]:
    def run(args: str) -> None:
        subprocess.run(["xdotool", *shlex.split(args)], env=vd.env, check=True, timeout=30)

    return run


@pytest.fixture
def capture(vd: VirtualDisplay) -> Iterator[tuple[X11Capture, Recorder]]:
    rec = Recorder()
    cap = X11Capture(vd.display, rec, AgentSettings(frame_format="jpeg"))
    cap.start()
    yield cap, rec
    cap.stop()
