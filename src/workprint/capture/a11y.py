"""Focused password fields, seen over the accessibility bus (AT-SPI over D-Bus, with ``jeepney``).

A window title rarely says that a field is secret, but the toolkit does: GTK, Qt, Firefox and Chromium expose a
hidden entry to AT-SPI with the role "password text" (when their accessibility is on). ``A11yWatcher`` finds the
accessibility bus (``AT_SPI_BUS_ADDRESS``, the session bus's ``org.a11y.Bus.GetAddress``, or the X root property
``AT_SPI_BUS``), asks the registry for focus events (``RegisterEvent``: toolkits only send events someone listens
to), and on every focus gain asks the object's role. It reports ``ControlEvent(SECRET_FIELD, (("state", "enter"),))``
when focus enters a secret field and ``(("state", "leave"),)`` when it leaves it, through the same sink as capture,
stamped with the monotonic clock on arrival (a little after the focus moved: ``KeyRedactor`` redacts the whole field).

The decisions are pure (``focus_change``, ``is_secret_role``, ``SecretFocus``); the thread only talks D-Bus. Without
an accessibility bus the watcher logs one info line and does nothing; it never stops the agent. A role that cannot
be read counts as secret (fail closed), and so does a secret field still focused when the bus is lost: no "leave"
is reported, so the key redactor goes on redacting.

Limits: a field already focused when the watcher starts is seen at the next focus change; the report is stamped
before the role round trip but delivered after it, so a field typed and ended within that round trip (the
application hanging) is judged without it; browsers that turn accessibility on only for a screen reader send
nothing unless started with it on (GTK 3 applications always send).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jeepney import DBusAddress, MatchRule, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import HeaderFields, Message
from jeepney.wrappers import unwrap_msg

from workprint.capture.base import Sink
from workprint.models import SECRET_FIELD, ControlEvent

log = logging.getLogger(__name__)

ROLE_PASSWORD_TEXT = 40  # AtspiRole ATSPI_ROLE_PASSWORD_TEXT
EVENTS = ("object:state-changed:focused", "focus:")
CALL_TIMEOUT_S = 1.0
_OBJECT_EVENTS = "org.a11y.atspi.Event.Object"
_FOCUS_EVENTS = "org.a11y.atspi.Event.Focus"
_REGISTRY = DBusAddress("/org/a11y/atspi/registry", "org.a11y.atspi.Registry", "org.a11y.atspi.Registry")
_A11Y_BUS = DBusAddress("/org/a11y/bus", "org.a11y.Bus", "org.a11y.Bus")

Object = tuple[str, str]  # (the application's unique bus name, the object's path)


# --- pure ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FocusChange:
    """Focus moved to (``gained``) or away from an accessible object."""

    obj: Object
    gained: bool


def focus_change(interface: str, member: str, sender: str, path: str, body: Sequence[Any]) -> FocusChange | None:
    """The focus change an AT-SPI signal reports, or None for any other signal.

    ``object:state-changed:focused`` carries ``("focused", 1|0, ...)``; the legacy ``focus:`` event only gains.
    """
    if not sender or not path:
        return None
    if interface == _OBJECT_EVENTS and member == "StateChanged" and len(body) >= 2 and body[0] == "focused":
        return FocusChange((sender, path), bool(body[1]))
    if interface == _FOCUS_EVENTS and member == "Focus":
        return FocusChange((sender, path), True)
    return None


def is_secret_role(role: int | None) -> bool:
    """A field is secret when its role is "password text"; an unknown role (the query failed) counts as secret."""
    return role is None or role == ROLE_PASSWORD_TEXT


class SecretFocus:
    """Which secret field has focus, if any; ``gain``/``loss`` return "enter", "leave" or None (no change)."""

    def __init__(self) -> None:
        self.current: Object | None = None

    def gain(self, obj: Object, secret: bool) -> str | None:
        """Focus moved to ``obj``."""
        if secret:
            entered = self.current is None
            self.current = obj
            return "enter" if entered else None
        return self.leave()

    def loss(self, obj: Object) -> str | None:
        """``obj`` lost focus (only the secret field's own loss matters: losses and gains arrive in any order)."""
        return self.leave() if obj == self.current else None

    def leave(self) -> str | None:
        """Focus is no longer in a secret field."""
        if self.current is None:
            return None
        self.current = None
        return "leave"


def secret_field_event(state: str, t_ns: int | None = None) -> ControlEvent:
    """The control record for entering or leaving a secret field, stamped now unless ``t_ns`` is given."""
    t_ns = time.monotonic_ns() if t_ns is None else t_ns
    return ControlEvent(t_ns, time.time_ns(), SECRET_FIELD, (("state", state),))


# --- I/O ----------------------------------------------------------------------------------------------------------


def bus_address(display: str | None = None, timeout_s: float = 2.0) -> str | None:
    """The accessibility bus address: ``AT_SPI_BUS_ADDRESS``, the session bus's ``org.a11y.Bus``, or the X root
    window's ``AT_SPI_BUS`` property; None when there is none."""
    if os.environ.get("AT_SPI_BUS_ADDRESS"):
        return os.environ["AT_SPI_BUS_ADDRESS"]
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        with contextlib.suppress(Exception), open_dbus_connection("SESSION", auth_timeout=timeout_s) as session:
            reply = session.send_and_get_reply(new_method_call(_A11Y_BUS, "GetAddress"), timeout=timeout_s)
            address = unwrap_msg(reply)[0]
            if isinstance(address, str) and address:
                return address
    if display:
        with contextlib.suppress(Exception):
            return _x_root_address(display)
    return None


def _x_root_address(display: str) -> str | None:
    from Xlib import Xatom
    from Xlib.display import Display

    d = Display(display)
    try:
        prop = d.screen().root.get_full_property(d.intern_atom("AT_SPI_BUS"), Xatom.STRING)
        value = bytes(prop.value).decode() if prop is not None else ""
        return value or None
    finally:
        d.close()


class A11yWatcher:
    """Report focus entering and leaving password fields to ``sink``, from its own thread, until ``stop``."""

    def __init__(
        self, sink: Sink, *, display: str | None = None, find_bus: Callable[[], str | None] | None = None
    ) -> None:
        self._sink = sink
        self._find_bus = find_bus or (lambda: bus_address(display))
        self._focus = SecretFocus()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.available = False  # True once registered for focus events on an accessibility bus
        self.error = ""

    def start(self) -> None:
        """Start the thread; finding the bus happens there, so the agent never waits for it."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wp-a11y", daemon=True)
            self._thread.start()

    @property
    def in_secret_field(self) -> bool:
        """True while the last report was "enter" (focus is in a password field)."""
        return self._focus.current is not None

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait until the watcher is registered or has given up; return ``available``."""
        self._ready.wait(timeout)
        return self.available

    def stop(self) -> None:
        """Stop the thread; no sink call happens after this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def announce(self) -> None:
        """Report the current state again (after a pause, which dropped what was reported during it)."""
        if self.available:
            with self._lock:
                self._sink(secret_field_event("enter" if self.in_secret_field else "leave"), None)

    def _run(self) -> None:
        try:
            address = self._find_bus()
        except Exception as exc:  # finding the bus must never stop the agent
            address, self.error = None, str(exc)
        if not address:
            log.info("accessibility bus not available: password fields are found by context only")
            self._ready.set()
            return
        try:
            with open_dbus_connection(address) as conn:
                self._watch(conn)
        except Exception as exc:
            self.error = str(exc)
            inside = " while a password field had focus: keys stay redacted" if self._focus.current else ""
            log.warning("accessibility watcher stopped%s: %s", inside, exc)
        finally:
            self.available = False
            self._ready.set()

    def _watch(self, conn: DBusConnection) -> None:
        focused = MatchRule(type=MessageType.signal, interface=_OBJECT_EVENTS, member="StateChanged")
        focused.add_arg_condition(0, "focused")
        for rule in (focused, MatchRule(type=MessageType.signal, interface=_FOCUS_EVENTS)):
            unwrap_msg(conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT_S))
        with conn.filter(MatchRule(type=MessageType.signal), bufsize=4096) as queue:
            for event in EVENTS:
                unwrap_msg(conn.send_and_get_reply(new_method_call(_REGISTRY, "RegisterEvent", "s", (event,)),
                                                   timeout=CALL_TIMEOUT_S))  # fmt: skip
            self.available = True
            self._ready.set()
            log.info("accessibility bus: watching focus for password fields")
            while not self._stop.is_set():
                try:
                    msg = conn.recv_until_filtered(queue, timeout=0.25)
                except TimeoutError:
                    continue
                self._handle(conn, msg)

    def _handle(self, conn: DBusConnection, msg: Message) -> None:
        fields = msg.header.fields
        change = focus_change(
            str(fields.get(HeaderFields.interface, "")),
            str(fields.get(HeaderFields.member, "")),
            str(fields.get(HeaderFields.sender, "")),
            str(fields.get(HeaderFields.path, "")),
            msg.body,
        )
        if change is None:
            return
        t_ns = time.monotonic_ns()  # on arrival, before the role round trip
        secret = is_secret_role(self._role(conn, change.obj)) if change.gained else False
        with self._lock:
            state = self._focus.gain(change.obj, secret) if change.gained else self._focus.loss(change.obj)
            if state is not None and not self._stop.is_set():
                self._sink(secret_field_event(state, t_ns), None)

    @staticmethod
    def _role(conn: DBusConnection, obj: Object) -> int | None:
        try:
            reply = conn.send_and_get_reply(
                new_method_call(DBusAddress(obj[1], obj[0], "org.a11y.atspi.Accessible"), "GetRole"),
                timeout=CALL_TIMEOUT_S,
            )
            role = unwrap_msg(reply)[0]
        except Exception:  # the application is gone or hangs: fail closed
            return None
        return role if isinstance(role, int) else None


__all__ = [
    "ROLE_PASSWORD_TEXT",
    "A11yWatcher",
    "FocusChange",
    "SecretFocus",
    "bus_address",
    "focus_change",
    "is_secret_role",
    "secret_field_event",
]
