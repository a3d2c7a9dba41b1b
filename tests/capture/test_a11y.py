"""The accessibility-bus watcher on a real desktop: Xvfb + openbox, a private session bus, Debian's AT-SPI bus
launcher (which starts the registry) and a GTK3 form run by Debian's Python (``a11y_form_app.py``). Keys are
typed with xdotool; the form's title says nothing about logging in, so only AT-SPI can tell the second entry is a
password field."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from xrecorder import Recorder

from workprint.agent import Agent
from workprint.capture.a11y import A11yWatcher, bus_address
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.models import SECRET_FIELD, ControlEvent, Event, KeyEvent, WindowEvent
from workprint.privacy.redact.detectors.passwords import login_context
from workprint.privacy.redact.types import Context
from workprint.privacy.state import record_consent
from workprint.segment import generate_keypair, open_sealed

pytestmark = pytest.mark.x11

APP = Path(__file__).with_name("a11y_form_app.py")
TITLE = "Account form"
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHER = "/usr/libexec/at-spi-bus-launcher"


@dataclass
class Desk:
    vd: VirtualDisplay
    env: dict[str, str]  # DISPLAY and the private session bus

    def xdo(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=30)


def _wait(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    run_dir = tmp_path_factory.mktemp("xdg-run")  # the launcher puts its bus socket here, private to this test
    run_dir.chmod(0o700)
    procs: list[subprocess.Popen[str]] = []
    with VirtualDisplay(1024, 700) as vd:
        try:
            bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            procs.append(bus)
            assert bus.stdout is not None
            address = bus.stdout.readline().strip()
            assert address, "dbus-daemon printed no address"
            env = {**vd.env, "DBUS_SESSION_BUS_ADDRESS": address, "XDG_RUNTIME_DIR": str(run_dir)}
            env.pop("AT_SPI_BUS_ADDRESS", None)
            env.pop("NO_AT_BRIDGE", None)
            procs.append(subprocess.Popen([LAUNCHER, "--launch-immediately"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True))  # fmt: skip
            app = subprocess.Popen([SYSTEM_PYTHON, str(APP), TITLE], env=env, stdout=subprocess.PIPE, text=True)
            procs.append(app)
            assert app.stdout is not None and app.stdout.readline().strip() == "ready"
            desk = Desk(vd, env)
            desk.xdo("search", "--sync", "--name", f"^{TITLE}$")
            yield desk
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def on_bus(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Desk:
    """This process sees the desk's session bus, as an agent started in that session would."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desk.env["DBUS_SESSION_BUS_ADDRESS"])
    monkeypatch.delenv("AT_SPI_BUS_ADDRESS", raising=False)
    return desk


def _states(events: list[Event]) -> list[str]:
    return [e.get("state") for e in events if isinstance(e, ControlEvent) and e.kind == SECRET_FIELD]


def _focus_form(desk: Desk) -> None:
    desk.xdo("search", "--name", f"^{TITLE}$", "windowactivate", "--sync")
    desk.xdo("mousemove", "200", "75", "click", "1")  # into the user-name entry
    time.sleep(0.3)


def test_the_watcher_reports_focus_entering_and_leaving_the_password_entry(on_bus: Desk) -> None:
    desk = on_bus
    assert bus_address(desk.vd.display) is not None
    rec = Recorder()
    watcher = A11yWatcher(rec, display=desk.vd.display)
    watcher.start()
    try:
        assert watcher.wait_ready(10), f"not watching: {watcher.error}"
        _focus_form(desk)
        assert _states(rec.events()) == []  # the user-name entry is not secret
        desk.xdo("key", "Tab")
        rec.wait_for(lambda evs: _states(evs) == ["enter"])
        desk.xdo("key", "Tab")
        rec.wait_for(lambda evs: _states(evs) == ["enter", "leave"])
    finally:
        watcher.stop()
    assert all(isinstance(e, ControlEvent) for e in rec.events())
    assert rec.threads == {"wp-a11y"}


def test_password_entry_keys_reach_the_spool_as_one_placeholder_and_the_user_name_stays(
    on_bus: Desk, tmp_path: Path
) -> None:
    desk = on_bus
    home = tmp_path / "home"
    private, public = generate_keypair()
    device = DeviceRecord("http://127.0.0.1:9", "p1", "d1", "wpd_x", base64.b64encode(public).decode())
    record_consent(home, "grant", ("keys", "mouse", "window_titles", "app_names"), time.time_ns())
    settings = AgentSettings(home=home, frame_format="jpeg", upload_interval_s=30, idle_pause_min=0)
    agent = Agent(settings, device, display=desk.vd.display, auto_pause=False)
    agent.start()
    try:
        assert agent.a11y.wait_ready(10), f"not watching: {agent.a11y.error}"
        _wait(lambda: agent.status() == "recording", "recording")
        _focus_form(desk)
        desk.xdo("type", "--delay", "40", "alice")
        desk.xdo("key", "Tab")
        desk.xdo("type", "--delay", "40", "hunterx")
        desk.xdo("key", "BackSpace")
        desk.xdo("type", "--delay", "40", "2")
        desk.xdo("key", "Tab")  # focus wraps to the user-name entry
        time.sleep(0.5)
        desk.xdo("type", "--delay", "40", "ok")
        desk.xdo("key", "Return")
        time.sleep(0.5)
    finally:
        agent.stop(upload=False)
    events: list[Event] = []
    for path in sorted((home / "spool" / "sealed").glob("*.wps")):
        events.extend(open_sealed(path.read_bytes(), private).events)
    windows = [e for e in events if isinstance(e, WindowEvent)]
    assert windows and not any(login_context(Context(w.app, w.title)) for w in windows)  # words alone cannot tell
    typed = "".join(e.text for e in events if isinstance(e, KeyEvent) and e.press)
    assert typed == "alice\t<PASSWORD>\tok\n"
    keysyms = {e.keysym for e in events if isinstance(e, KeyEvent)}
    assert not keysyms & {"h", "u", "n", "t", "r", "x", "2", "BackSpace"}  # the typo and its fix went too
    assert _states(events) == ["enter", "leave"]


def test_without_an_accessibility_bus_the_watcher_does_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("AT_SPI_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    with VirtualDisplay(320, 200, window_manager=False) as bare:  # no launcher: no AT_SPI_BUS on its root
        assert bus_address(bare.display) is None
        rec = Recorder()
        watcher = A11yWatcher(rec, display=bare.display)
        with caplog.at_level(logging.INFO, logger="workprint.capture.a11y"):
            watcher.start()
            assert watcher.wait_ready(10) is False
            watcher.announce()
            watcher.stop()
    assert rec.events() == []
    lines = [r.getMessage() for r in caplog.records if r.name == "workprint.capture.a11y"]
    assert lines == ["accessibility bus not available: password fields are found by context only"]


def test_an_unreachable_accessibility_bus_stops_only_the_watcher(tmp_path: Path) -> None:
    rec = Recorder()
    watcher = A11yWatcher(rec, find_bus=lambda: f"unix:path={tmp_path / 'no-such-socket'}")
    watcher.start()
    assert watcher.wait_ready(10) is False
    watcher.stop()
    assert rec.events() == [] and watcher.error


def test_the_form_app_runs_on_debians_python() -> None:
    # The venv's Python has no gi; the form must be run by the system's (python3-gi, gir1.2-gtk-3.0).
    assert os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
    out = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gtk', '3.0')"], capture_output=True)
    assert out.returncode == 0, out.stderr
