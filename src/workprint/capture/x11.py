"""Linux X11 capture: RECORD for input, window focus via EWMH properties, DAMAGE-driven screen grabs.

Threads (all daemon, all stopped by ``stop()``):

* ``workprint-x11-input`` owns the RECORD data connection; it blocks in ``record_enable_context`` and turns each
  key/button/motion device event into model events. Before every action it emits the pre-action frame.
* ``workprint-x11-watch`` runs ``watch.Watcher`` on the query connection: window focus and titles, DAMAGE-driven
  screen grabs into the frame ring, keyboard remaps, and the flush of motion that has gone quiet.

Sink calls from both threads are serialised by one lock, so the sink never runs concurrently with itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import record
from Xlib.protocol import rq

from workprint.capture.base import Sink
from workprint.capture.clock import ServerClock
from workprint.capture.frames import FrameRing, open_mss
from workprint.capture.keys import CHANGE_KEYBOARD_MAPPING, Keyboard, parse_change_keyboard_mapping
from workprint.capture.motion import MotionCoalescer
from workprint.capture.runs import RunTracker
from workprint.capture.watch import Watcher, WatcherHooks, keymap_of
from workprint.config import AgentSettings
from workprint.errors import CaptureError
from workprint.models import ButtonEvent, Event, KeyEvent, ScrollEvent, WindowEvent

log = logging.getLogger(__name__)
_EVENT_PARSER = rq.EventField("event")

# Wheel buttons -> (dx, dy), PyAutoGUI's signs: button 4 scrolls up (+1), 7 scrolls right (+1).
_WHEEL = {4: (0, 1), 5: (0, -1), 6: (-1, 0), 7: (1, 0)}


def _open(name: str) -> xdisplay.Display:
    try:
        return xdisplay.Display(name)
    except Exception as exc:  # python-xlib raises many kinds here (DisplayError, OSError, OverflowError, ...)
        raise CaptureError(f"DISPLAY: cannot open {name!r}") from exc


class X11Capture:
    """Record input, window focus and pre-action frames from an X11 display into ``sink``.

    ``display`` is an X display name (``":0"``); None means ``$DISPLAY``. See ``workprint.capture.base`` for the
    sink contract. ``start()`` raises ``CaptureError`` on no DISPLAY, an unopenable display or no RECORD extension.
    """

    def __init__(
        self, display: str | None, sink: Sink, settings: AgentSettings, *, frame_format: Callable[[], str] | None = None
    ) -> None:
        self.display_name = display
        self.sink = sink
        self.settings = settings
        # Asked at every frame: the agent lets the program (and its own CPU) choose; alone, the settings do.
        self._frame_format = frame_format or (lambda: settings.frame_format or "jpeg")
        self.ring = FrameRing(size=6)
        self._stats = {"frames": 0, "events": 0, "sink_errors": 0, "event_errors": 0}
        self._emit_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[xdisplay.Display] = []
        self._wake_r, self._wake_w = -1, -1
        self._ctx = 0
        self._motion = MotionCoalescer(settings.motion_hz)
        self._runs = RunTracker()  # which actions begin a new action of the data and so need a frame
        #: Why a capture thread died (X server gone, ...); None while healthy. The agent should poll ``alive()``.
        self.error: str | None = None

    # ----- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Open three connections (data, query, control), measure the clock offset and start both threads."""
        name = self.display_name if self.display_name is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise CaptureError("DISPLAY: not set")
        self.display_name = name
        ctl = _open(name)
        self._conns.append(ctl)
        if not ctl.has_extension("RECORD"):
            self._close()
            raise CaptureError(f"DISPLAY: {name!r} has no RECORD extension")
        try:
            self._setup(name, ctl)
        except CaptureError:
            self._close()
            raise
        except Exception as exc:
            self._close()
            raise CaptureError(f"DISPLAY: cannot record {name!r}: {exc}") from exc
        self._threads = [
            threading.Thread(target=self._input_loop, name="workprint-x11-input", daemon=True),
            threading.Thread(target=self._watch_loop, name="workprint-x11-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _setup(self, name: str, ctl: xdisplay.Display) -> None:
        self._query = q = _open(name)
        # Requests on windows that vanish meanwhile fail asynchronously; those errors are expected, not news.
        q.set_error_handler(lambda *_: None)
        self._data = _open(name)
        self._conns += [q, self._data]
        self.clock = self._measure_clock(q)
        mask = int(q.screen().root.query_pointer().mask)
        self._keyboard = Keyboard(keymap_of(q), mask)
        self._wake_r, self._wake_w = os.pipe()
        self._ctx = ctl.record_create_context(
            0,
            [record.AllClients],
            [
                {
                    "core_requests": (CHANGE_KEYBOARD_MAPPING, CHANGE_KEYBOARD_MAPPING),
                    "core_replies": (0, 0),
                    "ext_requests": (0, 0, 0, 0),
                    "ext_replies": (0, 0, 0, 0),
                    "delivered_events": (0, 0),
                    "device_events": (X.KeyPress, X.MotionNotify),
                    "errors": (0, 0),
                    "client_started": False,
                    "client_died": False,
                }
            ],
        )
        ctl.sync()
        hooks = WatcherHooks(self._emit_window, self._flush_quiet_motion, self._set_keymap)
        self._watcher = Watcher(
            q, open_mss(name), self.settings, self.ring, self.clock, hooks, self._wake_r, self._stop
        )
        self._watcher.grab()  # so the very first action has a frame

    def stop(self) -> None:
        """Flush pending motion, stop recording, join the threads and close the connections. Idempotent.

        Once it returns (or, called from inside the sink, once that sink call returns) the sink gets no more calls.
        A stopped capture cannot be restarted: make a new ``X11Capture``.
        """
        if self._stop.is_set() or not self._conns:
            return
        inside_sink = threading.current_thread() in self._threads  # then this thread already holds _emit_lock
        if inside_sink:
            self._flush_motion()
        else:
            with self._emit_lock:
                self._flush_motion()
        self._stop.set()  # from here on _emit drops everything
        if inside_sink:
            # Joining our own thread or closing the connection it is reading would deadlock: finish elsewhere.
            threading.Thread(target=self._shutdown, name="workprint-x11-stop", daemon=True).start()
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._ctx:
            with contextlib.suppress(Exception):  # the server may be gone already (ConnectionClosedError)
                ctl = self._conns[0]
                ctl.record_disable_context(self._ctx)
                ctl.sync()
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        if self._ctx and self._conns:
            try:
                self._conns[0].record_free_context(self._ctx)
                self._conns[0].sync()
            except Exception:  # the server may be gone already (ConnectionClosedError)
                pass
            self._ctx = 0
        for conn in self._conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._conns.clear()
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.sct.close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    @property
    def stats(self) -> dict[str, int]:
        """Counters: screen grabs taken, frames emitted, events emitted, sink and event-handling errors."""
        watcher = getattr(self, "_watcher", None)
        return {"grabs": watcher.grabs if watcher is not None else 0, **self._stats}

    def alive(self) -> bool:
        """True while both capture threads run (False before start, after stop, or after a failure)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def __enter__(self) -> X11Capture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _measure_clock(q: xdisplay.Display) -> ServerClock:
        # The server stamps PropertyNotify with its ms clock: a round trip brackets that stamp in monotonic time.
        win = q.screen().root.create_window(0, 0, 1, 1, 0, 0, event_mask=X.PropertyChangeMask)
        atom = q.intern_atom("_WORKPRINT_CLOCK")
        best: tuple[int, int, int] | None = None
        for _ in range(3):
            before = time.monotonic_ns()
            win.change_property(atom, atom, 8, b"t")
            q.flush()
            while True:
                ev = q.next_event()
                if ev.type == X.PropertyNotify and ev.window.id == win.id:
                    break
            after = time.monotonic_ns()
            if best is None or after - before < best[2] - best[0]:
                best = (before, int(ev.time), after)
        win.destroy()
        q.sync()
        assert best is not None
        return ServerClock.from_round_trip(*best)

    def _emit(self, event: Event, data: bytes | None = None) -> None:
        # Called with _emit_lock held. A failing sink drops that one event (fail closed) but must not kill the
        # capture threads: the next event goes through the sink (and its privacy gate) again.
        if self._stop.is_set():
            return
        if isinstance(event, WindowEvent):
            self._runs.reset()  # typing or scrolling in another window starts a new run, with its own frame
        self._stats["events"] += 1
        try:
            self.sink(event, data)
        except Exception:
            self._stats["sink_errors"] += 1
            log.exception("capture sink failed; event dropped")

    def _emit_action(self, event: KeyEvent | ButtonEvent | ScrollEvent) -> None:
        motion = self._motion.flush()
        if motion is not None:
            self._emit(motion)
        # Within a run (typing, wheel notches, a double click) only the run's first input gets a frame: the run
        # becomes one action whose frame is the one before it, and a frame per later input would cost an encode and
        # an OCR pass each (see ``capture.runs``).
        grab = self.ring.before(event.t_ns) if self._runs.needs_frame(event) else None
        if grab is not None:
            frame, data = grab.frame_event(event.t_ns, self._frame_format(), self.settings.frame_quality)
            self._stats["frames"] += 1
            self._emit(frame, data)
        self._emit(event)

    # ----- input thread ----------------------------------------------------------------------------------------
    def _input_loop(self) -> None:
        try:
            self._data.record_enable_context(self._ctx, self._on_record)
        except Exception as exc:  # the X server went away, or a bug: record it where the agent can see it
            self._fail("input", exc)

    def _fail(self, part: str, exc: BaseException) -> None:
        if self._stop.is_set():
            return
        self.error = f"X11 capture {part} stopped: {type(exc).__name__}: {exc}"
        log.error("%s", self.error, exc_info=exc)

    def _on_record(self, reply: Any) -> None:
        if reply.client_swapped or not reply.data:
            return
        if reply.category == record.FromClient:
            changes = parse_change_keyboard_mapping(bytes(reply.data))
            if changes:
                with self._emit_lock:
                    self._keyboard.update_keymap(changes)
            return
        if reply.category != record.FromServer:
            return
        data = reply.data
        while data:
            ev, data = _EVENT_PARSER.parse_binary_value(data, self._data.display, None, None)
            try:
                self._on_device_event(ev)
            except Exception:  # one odd event must not end the recording
                self._stats["event_errors"] += 1
                log.exception("capture: could not handle %r", ev)

    def _on_device_event(self, ev: Any) -> None:
        t_ns = self.clock.to_ns(int(ev.time))
        wall_ns = time.time_ns() - (time.monotonic_ns() - t_ns)
        kind = ev.type
        with self._emit_lock:
            if kind == X.MotionNotify:
                was_pending = self._motion.pending
                full = self._motion.add(t_ns, wall_ns, int(ev.root_x), int(ev.root_y))
                if full is not None:
                    self._emit(full)
                elif not was_pending and self._wake_w >= 0:
                    os.write(self._wake_w, b"m")  # let the watcher time the quiet-motion flush
            elif kind == X.KeyPress:
                name, text, mods = self._keyboard.press(int(ev.detail))
                self._emit_action(KeyEvent(t_ns, wall_ns, True, int(ev.detail), name, text, mods))
            elif kind == X.KeyRelease:
                name, mods = self._keyboard.release(int(ev.detail))
                self._flush_motion()
                self._emit(KeyEvent(t_ns, wall_ns, False, int(ev.detail), name, "", mods))
            elif kind in (X.ButtonPress, X.ButtonRelease):
                button, x, y = int(ev.detail), int(ev.root_x), int(ev.root_y)
                if button in _WHEEL:
                    if kind == X.ButtonPress:
                        dx, dy = _WHEEL[button]
                        self._emit_action(ScrollEvent(t_ns, wall_ns, x, y, dx, dy))
                elif kind == X.ButtonPress:
                    self._emit_action(ButtonEvent(t_ns, wall_ns, True, x, y, button))
                else:
                    self._flush_motion()
                    self._emit(ButtonEvent(t_ns, wall_ns, False, x, y, button))

    def _flush_motion(self) -> None:
        motion = self._motion.flush()
        if motion is not None:
            self._emit(motion)

    # ----- hooks for the watcher thread ------------------------------------------------------------------------
    def _watch_loop(self) -> None:
        try:
            self._watcher.run()
        except Exception as exc:
            self._fail("watcher", exc)

    def _emit_window(self, event: WindowEvent) -> None:
        with self._emit_lock:
            self._flush_motion()
            self._emit(event)

    def _flush_quiet_motion(self) -> None:
        with self._emit_lock:
            self._flush_motion()

    def _set_keymap(self, keymap: dict[int, list[int]]) -> None:
        with self._emit_lock:
            self._keyboard.set_keymap(keymap)


__all__ = ["X11Capture"]
