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
from workprint.capture.a11y import (
    ROLE_PASSWORD_TEXT,
    A11yWatcher,
    FocusChange,
    SecretFocus,
    bus_address,
    focus_change,
    is_secret_role,
)
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.models import SECRET_FIELD, ControlEvent, Event, KeyEvent, WindowEvent
from workprint.privacy.redact.detectors.passwords import login_context
from workprint.privacy.redact.types import Context
from workprint.privacy.state import record_consent, toggle_pause
from workprint.segment import generate_keypair, open_sealed

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


@pytest.mark.x11
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


def _agent(desk: Desk, home: Path) -> tuple[Agent, bytes]:
    private, public = generate_keypair()
    device = DeviceRecord("http://127.0.0.1:9", "p1", "d1", "wpd_x", base64.b64encode(public).decode())
    record_consent(home, "grant", ("keys", "mouse", "window_titles", "app_names"), time.time_ns())
    settings = AgentSettings(home=home, frame_format="jpeg", upload_interval_s=30, idle_pause_min=0)
    return Agent(settings, device, display=desk.vd.display, auto_pause=False), private


def _spooled(home: Path, private: bytes) -> list[Event]:
    events: list[Event] = []
    for path in sorted((home / "spool" / "sealed").glob("*.wps")):
        events.extend(open_sealed(path.read_bytes(), private).events)
    return events


@pytest.mark.x11
def test_the_bus_is_found_on_the_session_bus_in_the_environment_or_on_the_x_root_window(
    on_bus: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = bus_address(None)  # asked of the session bus
    assert address is not None and address.startswith("unix:")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    assert bus_address(None) is None
    assert bus_address(on_bus.vd.display) == address  # the launcher's AT_SPI_BUS property
    monkeypatch.setenv("AT_SPI_BUS_ADDRESS", "unix:path=/elsewhere")
    assert bus_address(on_bus.vd.display) == "unix:path=/elsewhere"


@pytest.mark.x11
def test_password_entry_keys_reach_the_spool_as_one_placeholder_and_the_user_name_stays(
    on_bus: Desk, tmp_path: Path
) -> None:
    desk = on_bus
    home = tmp_path / "home"
    agent, private = _agent(desk, home)
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
        _wait(lambda: not agent.a11y.in_secret_field, "the bus to report leaving the password entry")
        desk.xdo("type", "--delay", "40", "ok")
        desk.xdo("key", "Return")
        time.sleep(0.5)
    finally:
        agent.stop(upload=False)
    events = _spooled(home, private)
    windows = [e for e in events if isinstance(e, WindowEvent)]
    assert windows and not any(login_context(Context(w.app, w.title)) for w in windows)  # words alone cannot tell
    typed = "".join(e.text for e in events if isinstance(e, KeyEvent) and e.press)
    assert typed == "alice\t<PASSWORD>\tok\n"
    keysyms = {e.keysym for e in events if isinstance(e, KeyEvent)}
    assert not keysyms & {"h", "u", "n", "t", "r", "x", "2", "BackSpace"}  # the typo and its fix went too
    assert _states(events) == ["enter", "leave"]


@pytest.mark.x11
def test_a_password_entry_focused_during_a_pause_is_still_redacted_after_it(on_bus: Desk, tmp_path: Path) -> None:
    desk = on_bus
    home = tmp_path / "home"
    agent, private = _agent(desk, home)
    agent.start()
    try:
        assert agent.a11y.wait_ready(10), f"not watching: {agent.a11y.error}"
        _wait(lambda: agent.status() == "recording", "recording")
        _focus_form(desk)
        toggle_pause(home, time.time_ns())
        _wait(lambda: agent.status() == "paused", "the pause")
        desk.xdo("key", "Tab")  # into the password entry: the bus reports it, the pause drops the report
        _wait(lambda: agent.a11y.in_secret_field, "the bus to report the password entry")
        toggle_pause(home, time.time_ns())
        _wait(lambda: agent.status() == "recording", "the resume")
        time.sleep(0.3)
        desk.xdo("type", "--delay", "40", "hunter2")
        desk.xdo("key", "Return")
        time.sleep(0.5)
    finally:
        agent.stop(upload=False)
    events = _spooled(home, private)
    typed = "".join(e.text for e in events if isinstance(e, KeyEvent) and e.press)
    assert typed == "<PASSWORD>\n"
    assert _states(events) == ["enter"]  # announced again after the resume


@pytest.mark.x11
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


def test_focus_signals_decode_to_gains_and_losses_and_other_signals_to_nothing() -> None:
    obj = ":1.2", "/org/a11y/atspi/accessible/3"
    state = "org.a11y.atspi.Event.Object"
    assert focus_change(state, "StateChanged", *obj, ("focused", 1, 0, ("i", 0), {})) == FocusChange(obj, True)
    assert focus_change(state, "StateChanged", *obj, ("focused", 0, 0, ("i", 0), {})) == FocusChange(obj, False)
    assert focus_change("org.a11y.atspi.Event.Focus", "Focus", *obj, ("", 0, 0, ("i", 0), {})) == FocusChange(obj, True)
    assert focus_change(state, "StateChanged", *obj, ("defunct", 1, 0, ("i", 0), {})) is None
    assert focus_change(state, "PropertyChange", *obj, ("focused", 1)) is None
    assert focus_change(state, "StateChanged", "", obj[1], ("focused", 1)) is None


def test_only_password_text_is_secret_and_an_unreadable_role_counts_as_secret() -> None:
    assert is_secret_role(ROLE_PASSWORD_TEXT)
    assert is_secret_role(None)
    assert not is_secret_role(61)  # text
    assert not is_secret_role(79)  # entry


def test_secret_focus_reports_transitions_only() -> None:
    f = SecretFocus()
    user, pw, other = (":1.2", "/a/1"), (":1.2", "/a/2"), (":1.5", "/b/1")
    assert f.gain(user, False) is None
    assert f.gain(pw, True) == "enter"
    assert f.gain(pw, True) is None  # toolkits repeat focus events
    assert f.loss(user) is None  # a loss of another object arriving late changes nothing
    assert f.gain(other, True) is None  # from one secret field to another: still inside
    assert f.loss(other) == "leave"
    assert f.loss(other) is None
    assert f.gain(pw, True) == "enter"
    assert f.gain(user, False) == "leave"
