"""Let a long-running agent follow the privacy state file within well under a second.

``StateWatcher`` stats ``privacy.json`` every ``interval`` (50 ms by default: a stat costs microseconds) in its own
thread, reloads it when its inode, mtime or size changed, and re-evaluates consent and pause on every tick so that
expiries and timed pauses take effect without any file change. ``consented`` and ``paused`` are plain callables that
``PrivacyGate`` takes directly; ``rules`` feeds ``ExclusionStep``. ``on_change(old, new)`` is called from the
watcher thread whenever the snapshot changes, so the agent can flush, mark a pause or purge withdrawn scopes.

Fail closed: if the file cannot be read or a receipt does not verify, nothing is consented and recording pauses
until the file is good again; the previous exclusion rules stay in force (rules never shrink on error).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workprint.errors import WorkprintError
from workprint.models import ALL_SCOPES, Scope
from workprint.privacy.exclusions import ExclusionRules
from workprint.privacy.state import DeviceState, load_state, state_path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The privacy state as the gate sees it at one moment."""

    consented: frozenset[Scope]
    paused: bool
    paused_until_ns: int | None
    notice_version: str
    error: str = ""  # why the state could not be read (then nothing is consented and recording is paused)
    withdrawn: frozenset[Scope] = frozenset()  # scopes whose latest decision is a withdrawal (purge their data)
    frame_format: str = "auto"  # the program's choice (privacy.notices.FRAME_FORMATS)


def snapshot_of(state: DeviceState, now_wall_ns: int) -> Snapshot:
    """Evaluate a state at ``now_wall_ns`` (pure)."""
    paused = state.pause.active(now_wall_ns)
    ledger = state.ledger
    withdrawn = frozenset(
        s for s in ALL_SCOPES if ledger.status(s, now_wall_ns, state.notice_version).reason == "withdrawn"
    )
    return Snapshot(
        ledger.active_scopes(now_wall_ns, state.notice_version),
        paused,
        state.pause.until_ns if paused else None,
        state.notice_version,
        withdrawn=withdrawn,
        frame_format=state.program.frame_format,
    )


class StateWatcher:
    """Follows ``$WORKPRINT_HOME/privacy.json``; cheap accessors for the gate, a change hook for the agent."""

    def __init__(
        self,
        home: Path,
        *,
        interval: float = 0.05,
        on_change: Callable[[Snapshot, Snapshot], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.home = home
        self.interval = interval
        self.on_change: Callable[[Snapshot, Snapshot], None] | None = None
        self._clock = clock
        self._sig: tuple[int, int, int] | None = None
        self._state: DeviceState | None = None
        self._rules = ExclusionRules()
        self._error = "not loaded yet"
        self._snap = Snapshot(frozenset(), True, None, "", self._error)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.poll()  # the first reading is the starting point, not a change
        self.on_change = on_change

    def consented(self) -> frozenset[Scope]:
        """Scopes with active consent now (for ``PrivacyGate.consented``)."""
        return self._snap.consented

    def paused(self) -> bool:
        """True while recording is paused or the state cannot be read (for ``PrivacyGate.paused``)."""
        return self._snap.paused

    def rules(self) -> ExclusionRules:
        """The exclusion rules in force (for ``ExclusionStep``)."""
        return self._rules

    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    def poll(self) -> Snapshot:
        """Check the file once and re-evaluate; call this yourself instead of ``start`` if you have a loop."""
        with self._lock:
            self._reload_if_changed()
            now = self._clock()
            if self._state is None:
                new = Snapshot(frozenset(), True, None, "", self._error)
            else:
                new = snapshot_of(self._state, now)
            old, self._snap = self._snap, new
        if new != old and self.on_change is not None:
            self.on_change(old, new)
        return new

    def _reload_if_changed(self) -> None:
        try:
            st = os.stat(state_path(self.home))
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            sig = (0, 0, 0)
        if sig == self._sig:
            return
        self._sig = sig
        try:
            state = load_state(self.home)
            rules = state.exclusion_rules()
        except WorkprintError as exc:
            self._state, self._error = None, str(exc)
            return
        self._state, self._rules, self._error = state, rules, ""

    def start(self) -> StateWatcher:
        """Poll in a daemon thread until ``stop``."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="workprint-privacy-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a broken hook must not stop the watcher; the gate already has the new snapshot
                log.exception("privacy state watcher: on_change failed")


def recording_status(snap: Snapshot, focused_excluded: bool) -> str:
    """One word for the indicator and ``workprint status``: paused, not_consented, excluded or recording.

    A pause wins over everything (the participant asked for it); with no active scope nothing can be recorded;
    an excluded focused window records nothing of itself.
    """
    if snap.paused:
        return "paused"
    if not snap.consented:
        return "not_consented"
    if focused_excluded:
        return "excluded"
    return "recording"


def withdrawn(old: Snapshot, new: Snapshot) -> frozenset[Scope]:
    """Scopes consented in ``old`` but not in ``new`` (withdrawn, expired or outdated): purge their unsent data."""
    return old.consented - new.consented


__all__ = [
    "Snapshot",
    "StateWatcher",
    "recording_status",
    "snapshot_of",
    "withdrawn",
]
