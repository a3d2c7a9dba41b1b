"""The watcher thread of X11 capture: window focus and titles, DAMAGE-driven screen grabs, keymap changes.

It owns the query connection and waits in ``select`` (never busy-polls) for PropertyNotify (``_NET_ACTIVE_WINDOW``
on the root, the title of the focused window), DamageNotify (the screen changed, so grab), MappingNotify (the
keyboard was remapped) and a wake pipe (motion started: time its quiet-flush). Everything it reports goes through
``WatcherHooks``, which take the capture's emit lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from Xlib import X
from Xlib.display import Display
from Xlib.error import XError

from workprint.capture.clock import ServerClock
from workprint.capture.frames import FrameRing, Grab
from workprint.capture.window import WindowInfo, WindowQuery
from workprint.config import AgentSettings
from workprint.models import WindowEvent

MOTION_QUIET_S = 0.25  # emit a motion path once the pointer has rested this long
FOCUS_POLL_S = 0.5  # only without an EWMH window manager
DESKTOP_SETTLE_S = 0.15  # how long "no active window" must last before it is reported
# Cap DAMAGE-driven grabs at 10/s (the last change is always grabbed, on the trailing edge). Each distinct grab an
# action refers to costs one encode (WebP ~15 ms, JPEG ~3 ms), so this bounds the encoding CPU of fast typing.
GRAB_MIN_INTERVAL_S = 0.1
_NO_WINDOW = WindowInfo("", "", 0, 0, 0, 0, 0)


def keymap_of(d: Display) -> dict[int, list[int]]:
    """The server's keycode -> keysyms table."""
    first = d.display.info.min_keycode
    count = d.display.info.max_keycode - first + 1
    return {first + i: list(syms) for i, syms in enumerate(d.get_keyboard_mapping(first, count))}


@dataclass(frozen=True, slots=True)
class WatcherHooks:
    """How the watcher reports: each hook takes the capture's emit lock itself."""

    window: Callable[[WindowEvent], None]
    flush_motion: Callable[[], None]
    keymap: Callable[[dict[int, list[int]]], None]


class Watcher:
    """Window and screen state, driven from one thread (``run``) over its own X connection."""

    def __init__(
        self,
        q: Display,
        sct: Any,
        settings: AgentSettings,
        ring: FrameRing,
        clock: ServerClock,
        hooks: WatcherHooks,
        wake_r: int,
        stop: threading.Event,
    ) -> None:
        self.q = q
        self.sct = sct
        self.settings = settings
        self.ring = ring
        self.clock = clock
        self.hooks = hooks
        self.wake_r = wake_r
        self.stop = stop
        self.grabs = 0
        self.win = WindowQuery(q)
        self._last_window: tuple[Any, ...] | None = None
        self._watched = 0
        self._desktop_at: tuple[int, float] | None = None  # (t_ns, deadline) of a pending "no window" report
        self._damage = 0
        if q.has_extension("DAMAGE"):
            from Xlib.ext import damage

            q.damage_query_version()
            self._damage = q.screen().root.damage_create(damage.DamageReportNonEmpty)
        q.screen().root.change_attributes(event_mask=X.PropertyChangeMask)

    def run(self) -> None:
        """Wait for and handle X events and timers until ``stop`` is set."""
        q = self.q
        fd = q.fileno()
        dirty = False
        last_grab = 0.0
        motion_since = 0.0
        poll = self._damage == 0
        ewmh = self.win.has_ewmh()
        last_focus_poll = time.monotonic()
        self._check_window(None)
        while not self.stop.is_set():
            now = time.monotonic()
            timeouts: list[float] = []
            if dirty:
                timeouts.append(max(0.0, last_grab + GRAB_MIN_INTERVAL_S - now))
            if poll:
                timeouts.append(max(0.0, last_grab + self.settings.frame_interval_s - now))
            if motion_since:
                timeouts.append(max(0.0, motion_since + MOTION_QUIET_S - now))
            if self._desktop_at is not None:
                timeouts.append(max(0.0, self._desktop_at[1] - now))
            if not ewmh:
                timeouts.append(max(0.0, last_focus_poll + FOCUS_POLL_S - now))
            if not q.pending_events():
                readable, _, _ = select.select([fd, self.wake_r], [], [], min(timeouts) if timeouts else None)
                if self.wake_r in readable:
                    os.read(self.wake_r, 64)
                    if not motion_since:
                        motion_since = time.monotonic()
            while q.pending_events():
                ev = q.next_event()
                if ev.type == X.PropertyNotify:
                    self._check_window(ev)
                elif ev.type == X.MappingNotify:
                    self.hooks.keymap(keymap_of(q))
                elif self._damage and ev.type == q.extension_event.DamageNotify:
                    dirty = True
            now = time.monotonic()
            if (dirty and now >= last_grab + GRAB_MIN_INTERVAL_S) or (
                poll and now >= last_grab + self.settings.frame_interval_s
            ):
                if self._damage:
                    q.damage_subtract(self._damage)
                    q.flush()
                self.grab(dedup=poll)
                last_grab, dirty = time.monotonic(), False
            if self._desktop_at is not None and now >= self._desktop_at[1]:
                t_desktop, self._desktop_at = self._desktop_at[0], None
                self._report(_NO_WINDOW, t_desktop)
            if not ewmh and now >= last_focus_poll + FOCUS_POLL_S:
                # Without an EWMH window manager no property announces focus changes: ask for the focus now and then.
                last_focus_poll = now
                if self.win.active_window() != self._watched:
                    self._check_window(None)
                ewmh = self.win.has_ewmh()
            if motion_since and now >= motion_since + MOTION_QUIET_S:
                motion_since = 0.0
                self.hooks.flush_motion()

    def grab(self, dedup: bool = False) -> None:
        """Grab the screen into the ring (without DAMAGE, skip a grab identical to the last one)."""
        shot = self.sct.grab(self.sct.monitors[0])
        t_ns, wall_ns = time.monotonic_ns(), time.time_ns()
        grab = Grab(t_ns, wall_ns, int(shot.width), int(shot.height), shot.raw)
        if dedup:
            grab.digest = hashlib.blake2b(shot.raw, digest_size=16).digest()
            latest = self.ring.latest()
            if latest is not None and latest.digest == grab.digest:
                return
        self.grabs += 1
        self.ring.add(grab)

    def _check_window(self, ev: Any) -> None:
        win = self.win
        if ev is not None:
            on_root = ev.window.id == win.root.id
            if on_root and ev.atom != win.NET_ACTIVE_WINDOW:
                return
            if not on_root and (ev.window.id != self._watched or ev.atom not in (win.NET_WM_NAME, win.WM_NAME)):
                return
        wid = win.active_window()
        if wid != self._watched:
            self._watch_window(wid)
        info = win.info(wid)
        if info is None:
            return
        t_ns = self.clock.to_ns(int(ev.time)) if ev is not None else time.monotonic_ns()
        if not wid:
            # WMs pass through "no active window" while switching; report the desktop only if focus stays there.
            if self._desktop_at is None:
                self._desktop_at = (t_ns, time.monotonic() + DESKTOP_SETTLE_S)
            return
        self._desktop_at = None
        self._report(info, t_ns)

    def _report(self, info: WindowInfo, t_ns: int) -> None:
        sw, sh = self.win.screen_size()
        key = (info.app, info.title, info.pid, info.x, info.y, info.width, info.height)
        if key == self._last_window:
            return
        self._last_window = key
        wall_ns = time.time_ns() - (time.monotonic_ns() - t_ns)
        event = WindowEvent(t_ns, wall_ns, info.app, info.title, info.pid, *key[3:], sw, sh)
        self.hooks.window(event)

    def _watch_window(self, wid: int) -> None:
        d = self.q
        if self._watched:
            with contextlib.suppress(XError):
                d.create_resource_object("window", self._watched).change_attributes(event_mask=X.NoEventMask)
        self._watched = wid
        if wid:
            with contextlib.suppress(XError):
                d.create_resource_object("window", wid).change_attributes(event_mask=X.PropertyChangeMask)


__all__ = ["Watcher", "WatcherHooks", "keymap_of"]
