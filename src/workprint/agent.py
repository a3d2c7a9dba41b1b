"""The agent on a participant's device: capture → privacy gate → spool → uploader, with the indicator on screen.

This module only wires the parts. Capture knows neither the spool nor the network; everything it produces goes
through ``PrivacyGate.admit`` inside its own callback, and only what the gate returns is appended to the spool.
The privacy state file (consent, pause, exclusions) is followed by a ``StateWatcher``; a withdrawal deletes the
withdrawn scopes' unsent data from the spool at once.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field

from workprint.capture.indicator import Indicator
from workprint.capture.x11 import X11Capture
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.errors import CaptureError
from workprint.models import ControlEvent, Event
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import PrivacyGate, Step
from workprint.privacy.redact.step import KeyRedactor
from workprint.privacy.state import toggle_pause
from workprint.privacy.watcher import Snapshot, StateWatcher, recording_status
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import HttpTransport, Transport, Uploader

REDACTOR_VERSION = "workprint-redact-1"


@dataclass
class AgentStats:
    """Counters for ``workprint status`` and the demo summary."""

    admitted: int = 0
    segments_uploaded: int = 0
    purged_segments: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Agent:
    """Record one session on ``display`` until ``stop()``; upload sealed segments in the background."""

    def __init__(
        self,
        settings: AgentSettings,
        device: DeviceRecord,
        *,
        display: str | None = None,
        transport: Transport | None = None,
        indicator: bool = True,
    ) -> None:
        display = display or os.environ.get("DISPLAY", "")
        if not display:  # checked before anything starts, so the indicator and capture agree on the display
            raise CaptureError("DISPLAY: not set")
        self.settings = settings
        self.device = device
        self.session = uuid.uuid4().hex
        self.stats = AgentStats()
        self.watcher = StateWatcher(settings.home)
        self.exclusions = ExclusionStep(self.watcher.rules)
        self.redactor = KeyRedactor()
        steps: list[Step] = [self.exclusions, self.redactor]
        self.gate = PrivacyGate(consented=self.watcher.consented, paused=self.watcher.paused, steps=steps)
        identity = SpoolIdentity(
            participant=device.participant_id,
            device=device.device_id,
            session=self.session,
            public_key=device.public_key_bytes,
            notice_version=device.notice_version,
            redactor_version=REDACTOR_VERSION,
        )
        self.spool = Spool.open(
            settings.spool_dir, identity, max_age_s=settings.segment_max_s, max_bytes=settings.segment_max_bytes
        )
        self.transport = transport or HttpTransport(device.server_url, device.device_token)
        self.uploader = Uploader(self.spool, self.transport)
        self.capture = X11Capture(display, sink=self._sink, settings=settings)
        self.indicator: Indicator | None = (
            Indicator(display, self.status, lambda: toggle_pause(settings.home, time.time_ns())) if indicator else None
        )
        self._spool_lock = threading.Lock()
        self.watcher.on_change = self._privacy_changed  # only now: the hook needs the gate and the spool
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def status(self) -> str:
        """What the indicator shows: recording, paused, excluded or not consented."""
        return recording_status(self.watcher.snapshot, self.exclusions.excluded)

    def _write(self, items: list[tuple[Event, bytes | None]]) -> None:
        with self._spool_lock:
            for ev, blob in items:
                self.spool.append(ev, blob)
                self.stats.admitted += 1

    def _sink(self, event: Event, data: bytes | None) -> None:
        self._write(self.gate.admit(event, data))

    def _control(self, kind: str, detail: tuple[tuple[str, str], ...] = ()) -> None:
        # Control markers carry no scope, so the gate lets them through even while paused.
        self._write(self.gate.admit(ControlEvent(time.monotonic_ns(), time.time_ns(), kind, detail), None))

    def _privacy_changed(self, old: Snapshot, new: Snapshot) -> None:
        # Release what the redactor holds (typed before the change), then mark the change in the stream.
        self._write(self.gate.flush())
        if new.paused and not old.paused:
            self._control("pause")
        elif old.paused and not new.paused:
            self._control("resume")
        withdrawn = old.consented - new.consented
        if withdrawn:
            self._control("consent", (("withdrawn", ",".join(sorted(withdrawn))),))
            with self._spool_lock:
                self.stats.purged_segments += self.spool.purge(set(withdrawn)).segments_deleted

    def start(self) -> None:
        """Show the indicator, start capture, the privacy watcher, the uploader and the segment ticker.

        Raises ``CaptureError`` when X cannot be recorded or the indicator cannot be shown: recording never starts
        without the indicator on screen.
        """
        self.watcher.start()
        if self.indicator is not None:
            self.indicator.start()
        try:
            self.capture.start()
        except Exception:
            if self.indicator is not None:
                self.indicator.stop()
            self.watcher.stop()
            raise
        self._control("session_start")
        for target, name in ((self._tick_loop, "wp-tick"), (self._upload_loop, "wp-upload")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.5):
            with self._spool_lock:
                self.spool.tick(time.monotonic_ns())
            if self.indicator is not None and not self.indicator.alive:
                # The participant must always see that recording is on; without the indicator, stop capturing.
                self.capture.stop()

    def _upload_loop(self) -> None:
        while not self._stop.wait(self.settings.upload_interval_s):
            self.stats.segments_uploaded += self.uploader.run_once()

    def stop(self, *, upload: bool = True) -> None:
        """Stop capture, release what the gate holds, seal the open segment and (by default) upload it."""
        self.capture.stop()
        self._write(self.gate.flush())
        self._control("session_stop")
        self._write(self.gate.flush())
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.watcher.stop()
        if self.indicator is not None:
            self.indicator.stop()
        with self._spool_lock:
            self.spool.seal()
        if upload:
            self.stats.segments_uploaded += self.uploader.run_once()
