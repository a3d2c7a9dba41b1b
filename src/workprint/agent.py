"""The agent on a participant's device: capture → privacy gate → spool → uploader, with the indicator on screen.

This module only wires the parts. Capture knows neither the spool nor the network; everything it produces goes
through ``PrivacyGate.admit`` inside its own callback, and only what the gate returns is appended to the spool.
The privacy state file (consent, pause, exclusions) is followed by a ``StateWatcher``; a withdrawal deletes the
withdrawn scopes' unsent data from the spool at once. Any change of the consented scopes seals the open segment, so
that no segment straddles a consent decision (the server checks each one against the ledger for its time range); a
new notice version also re-opens the spool under that version, which the segment headers then declare.

Consent receipts go to the server before any segment (``ReceiptSync`` in the upload round). Recording pauses
automatically while the screen is locked or after ``idle_pause_min`` idle minutes (``ScreenProbe``); clicks on the
indicator itself are never recorded. Where an accessibility bus is running, ``A11yWatcher`` reports focused password
fields into the same sink, for the key redactor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import httpx

from workprint.agent_status import ProcessUsage, clear_agent_status, write_agent_status
from workprint.audit.witness import check_on_device
from workprint.capture.a11y import A11yWatcher
from workprint.capture.indicator import Indicator
from workprint.capture.lockscreen import ScreenProbe
from workprint.capture.visible import VisibleWindows
from workprint.capture.x11 import X11Capture
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.errors import CaptureError, RedactionError, SpoolFull, TransportError
from workprint.models import ButtonEvent, ControlEvent, Event, FrameEvent, ScrollEvent
from workprint.privacy.consent_sync import ReceiptSync
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import PrivacyGate, Step
from workprint.privacy.pause import auto_pause_reason
from workprint.privacy.redact.image import ImageRedactor
from workprint.privacy.redact.step import KeyRedactor
from workprint.privacy.scopes import scopes_of_event
from workprint.privacy.state import toggle_pause
from workprint.privacy.timeline import PrivacyTimeline
from workprint.privacy.watcher import Snapshot, StateWatcher, recording_status
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import HttpTransport, Transport, Uploader
from workprint.transport.http import fetch_audit_head

REDACTOR_VERSION = "workprint-redact-1"
PRIVACY_NICENESS = 10  # the privacy worker's nice value (Linux: per thread)
STATUS_EVERY_S = 2.0
AUTO_WEBP_BELOW_CPU = 5.0  # "auto" frames: WebP (5x the encoding time of JPEG) only while the agent is this light
AUTO_JPEG_ABOVE_CPU = 15.0
log = logging.getLogger(__name__)


@dataclass
class AgentStats:
    """Counters for ``workprint status`` and the demo summary."""

    admitted: int = 0
    segments_uploaded: int = 0
    purged_segments: int = 0
    purged_events: int = 0
    receipts_sent: int = 0
    spool_full_dropped: int = 0
    late_dropped: int = 0  # processed after a change, but happened while recording was not allowed
    frames_dropped_backlog: int = 0  # frames not redacted in time (queue full or waited too long) or at stop
    started_at: float = field(default_factory=time.monotonic)


def choose_frame_format(override: str, program: str, recent_cpu: float, current: str = "jpeg") -> str:
    """The settings' format if set, else the program's; "auto" moves to WebP when the agent's own CPU (% of one core
    over the last few seconds) falls below ``AUTO_WEBP_BELOW_CPU`` and back to JPEG (a fifth of the encoding time)
    when it rises above ``AUTO_JPEG_ABOVE_CPU``: far enough apart that the format changes rarely."""
    if override:
        return override
    if program != "auto":
        return program
    if current == "webp":
        return "jpeg" if recent_cpu > AUTO_JPEG_ABOVE_CPU else "webp"
    return "webp" if recent_cpu < AUTO_WEBP_BELOW_CPU else "jpeg"


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
        receipts: ReceiptSync | None = None,
        auto_pause: bool = True,
        notice_check_s: float = 60.0,
    ) -> None:
        display = display or os.environ.get("DISPLAY", "")
        if not display:  # checked before anything starts, so the indicator and capture agree on the display
            raise CaptureError("DISPLAY: not set")
        self.settings = settings
        self.device = device
        self.session = uuid.uuid4().hex
        self.stats = AgentStats()
        self.watcher = StateWatcher(settings.home, interval=0.25)  # well inside the 1 s pause bound
        self.visible = VisibleWindows(display)
        self.exclusions = ExclusionStep(self.watcher.rules, visible_windows=self.visible)
        self._stopping = threading.Event()
        self.images = ImageRedactor(cancelled=self._stopping.is_set) if settings.redact_frames else None
        self.redactor = KeyRedactor(frame_redactor=self._redact_frame if self.images is not None else None)
        steps: list[Step] = [self.exclusions, self.redactor]
        self.auto_pause: str | None = None  # why recording is paused automatically (screen locked, idle), if it is
        self.gate = PrivacyGate(consented=self.watcher.consented, paused=self._paused, steps=steps)
        self.timeline = PrivacyTimeline(time.monotonic_ns(), self._paused(), self.watcher.consented())
        self.last_event_t_ns = 0  # the (monotonic) time of the last event fully handled (written or dropped)
        identity = SpoolIdentity(
            participant=device.participant_id,
            device=device.device_id,
            session=self.session,
            public_key=device.public_key_bytes,
            notice_version=self.watcher.snapshot.notice_version or device.notice_version,
            redactor_version=REDACTOR_VERSION,
        )
        self.spool = Spool.open(
            settings.spool_dir,
            identity,
            max_age_s=settings.segment_max_s,
            max_bytes=settings.segment_max_bytes,
            max_total_bytes=settings.spool_max_bytes,
            on_full=self._spool_full_changed,
        )
        self.transport = transport or HttpTransport(device.server_url, device.device_token)
        self.uploader = Uploader(self.spool, self.transport, max_bytes_per_s=settings.upload_max_bytes_per_s or None)
        self.receipts = receipts or ReceiptSync(settings.home, device)
        # Holds the server to its audit log: at each round the newest checkpoint must extend the one kept here.
        self._audit_head = None if transport else partial(fetch_audit_head, device.server_url)
        self._notice_check_ns = int(notice_check_s * 1e9)
        self._notice_checked_ns: int | None = None  # when the server's notice was last fetched (monotonic)
        self._display = display
        self._auto_enabled = auto_pause
        self._recent_cpu = 100.0  # % of one core over the last status interval; JPEG until measured
        self._format = "jpeg"
        self.capture = X11Capture(display, sink=self._sink, settings=settings, frame_format=self._frame_format)
        self.a11y = A11yWatcher(self._sink, display=display)  # does nothing without an accessibility bus
        self.indicator: Indicator | None = (
            Indicator(display, self.status, lambda: toggle_pause(settings.home, time.time_ns()), interval=0.25)
            if indicator
            else None
        )
        self._spool_lock = threading.Lock()
        # The frame backlog is bounded (in frames and in seconds of waiting) so that slow OCR never builds a queue the
        # agent cannot catch up on: what does not fit is dropped and counted, never a key or a click, and never
        # written unredacted. At stop, frames still waiting are dropped too, so the stop is prompt.
        self._frames_lock = threading.Lock()
        self._frames_waiting = 0
        self.usage = ProcessUsage()
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._privacy_worker, name="wp-privacy", daemon=True)
        self.watcher.on_change = self._privacy_changed  # only now: the hook needs the gate and the spool
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _paused(self) -> bool:
        return self.watcher.paused() or self.auto_pause is not None

    def status(self) -> str:
        """What the indicator shows: recording, paused, excluded, not consented, or spool full."""
        snap = self.watcher.snapshot
        if self.auto_pause is not None:
            snap = replace(snap, paused=True)
        state = recording_status(snap, self.exclusions.excluded)
        if state in ("recording", "excluded") and getattr(self.spool, "full", False):
            return "spool_full"  # the participant must know nothing more can be kept
        return state

    def _write(self, items: list[tuple[Event, bytes | None]]) -> None:
        with self._spool_lock:
            for n, (ev, blob) in enumerate(items):
                try:
                    self.spool.append(ev, blob)
                except SpoolFull:
                    # Nothing more can be kept until uploads make room; the indicator says SPOOL FULL meanwhile.
                    self.stats.spool_full_dropped += len(items) - n
                    return
                self.stats.admitted += 1

    def _spool_full_changed(self, full: bool) -> None:
        log.warning("spool %s", "full: recording stops until uploads make room" if full else "has room again")

    def _on_indicator(self, event: Event) -> bool:
        # A click on the indicator or its tray icon (pause/resume) is the participant talking to workprint, not work.
        if self.indicator is None or not isinstance(event, (ButtonEvent, ScrollEvent)):
            return False
        return self.indicator.hits(event.x, event.y)

    def _sink(self, event: Event, data: bytes | None) -> None:
        if self._on_indicator(event):
            self.last_event_t_ns = event.t_ns
            return
        if not self.timeline.allows(event.t_ns, scopes_of_event(event)):
            self.stats.late_dropped += 1  # it happened during a pause or without consent, however late it arrives
            self.last_event_t_ns = event.t_ns
            return
        # Redaction (OCR of frames above all) runs on the privacy worker, so capture never waits for it.
        if isinstance(event, FrameEvent):
            with self._frames_lock:
                full = self._stopping.is_set() or self._frames_waiting >= self.settings.frame_queue_max
                if full:
                    self.stats.frames_dropped_backlog += 1
                else:
                    self._frames_waiting += 1
            if full:
                self.last_event_t_ns = event.t_ns
                return
            queued = time.monotonic()
            self._later(lambda: self._admit_frame(event, data, queued))
            return
        self._later(lambda: self._admit(event, data))

    def _admit(self, event: Event, data: bytes | None) -> None:
        try:
            self._write(self.gate.admit(event, data))
        finally:
            self.last_event_t_ns = event.t_ns

    def _admit_frame(self, event: FrameEvent, data: bytes | None, queued: float) -> None:
        with self._frames_lock:
            self._frames_waiting -= 1
            late = self._stopping.is_set() or time.monotonic() - queued > self.settings.frame_queue_max_s
            if late:
                self.stats.frames_dropped_backlog += 1
        if late:
            self.last_event_t_ns = event.t_ns
            return
        self._admit(event, data)

    def _redact_frame(self, frame: FrameEvent, data: bytes, title: str, known: Sequence[str]) -> bytes:
        """The key redactor's frame hook: OCR and fill, unless the agent is stopping (then the frame is dropped)."""
        if self._stopping.is_set() or self.images is None:
            raise RedactionError("frame: dropped, the agent is stopping")
        return self.images(frame, data, title, known)

    def _later(self, op: Callable[[], None]) -> None:
        """Run ``op`` on the privacy worker, after everything queued before it (one order for all writes)."""
        self._work.put(op)

    def _flush_gate(self) -> None:
        self._later(lambda: self._write(self.gate.flush()))

    def _privacy_worker(self) -> None:
        # Below the capture thread and below the participant's own work: OCR waits, input capture does not.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PRIVACY_NICENESS)
        while True:
            op = self._work.get()
            if op is None:
                return
            try:
                op()
            except Exception:  # fail closed: what failed is not written; the worker goes on
                log.exception("privacy worker step failed; its data was dropped")

    def _control_now(self, kind: str, detail: tuple[tuple[str, str], ...] = ()) -> None:
        """Write a control marker now (on the privacy worker, in order with what it is writing)."""
        self._write([(ControlEvent(time.monotonic_ns(), time.time_ns(), kind, detail), None)])

    def _control(self, kind: str, detail: tuple[tuple[str, str], ...] = ()) -> None:
        # Control markers carry no recorded data and no scope: they go to the spool directly, even while paused.
        event = ControlEvent(time.monotonic_ns(), time.time_ns(), kind, detail)
        self._later(lambda: self._write([(event, None)]))

    def _seal(self) -> None:
        with self._spool_lock:
            self.spool.seal()

    def _privacy_changed(self, old: Snapshot, new: Snapshot) -> None:
        # At once, on the watcher's thread: the capture callback drops events of the new pause or withdrawal.
        self.timeline.mark(time.monotonic_ns(), new.paused or self.auto_pause is not None, new.consented)
        # The rest in order with the events already queued: flush, purge, seal, markers.
        self._later(lambda: self._apply_privacy_change(old, new))

    def _apply_privacy_change(self, old: Snapshot, new: Snapshot) -> None:
        # Release what the redactor holds (typed before the change), then mark the change in the stream.
        self._write(self.gate.flush())
        newly_withdrawn = new.withdrawn - old.withdrawn
        if newly_withdrawn:  # first, before anything is sealed that the uploader could send
            with self._spool_lock:
                purged = self.spool.purge(set(newly_withdrawn))
                self.stats.purged_segments += purged.segments_deleted
                self.stats.purged_events += purged.events_dropped
        if new.notice_version and new.notice_version != self.spool.identity.notice_version:
            with self._spool_lock:  # segments from now on declare the new notice
                self.spool.seal()
                self.spool.identity = replace(self.spool.identity, notice_version=new.notice_version)
        elif new.consented != old.consented:
            self._seal()  # no segment straddles a consent decision
        if new.paused and not old.paused and self.auto_pause is None:
            self._control_now("pause", (("reason", "participant"),))
        elif old.paused and not new.paused and self.auto_pause is None:
            self._control_now("resume", (("reason", "participant"),))
            self.a11y.announce()  # what it reported during the pause was dropped
        if new.consented != old.consented:
            detail = [("consented", ",".join(sorted(new.consented)))]
            if newly_withdrawn:
                detail.append(("withdrawn", ",".join(sorted(newly_withdrawn))))
            self._control_now("consent", tuple(detail))

    def _set_auto_pause(self, reason: str | None) -> None:
        if reason == self.auto_pause:
            return
        manual = self.watcher.paused()
        if reason is not None:
            was_running = self.auto_pause is None and not manual
            if was_running:
                self._flush_gate()
            self.auto_pause = reason
            self.timeline.mark(time.monotonic_ns(), True, self.watcher.consented())
            if was_running:
                self._control("pause", (("reason", reason),))
        else:
            why = self.auto_pause or ""
            self.auto_pause = None
            self.timeline.mark(time.monotonic_ns(), manual, self.watcher.consented())
            if not manual:
                self._control("resume", (("reason", f"no longer {why}"),))
                self.a11y.announce()

    def start(self) -> None:
        """Show the indicator, start capture, the privacy watcher, the uploader and the segment ticker.

        Raises ``CaptureError`` when X cannot be recorded or the indicator cannot be shown: recording never starts
        without the indicator on screen.
        """
        self.watcher.start()
        self._worker.start()
        if self.indicator is not None:
            self.indicator.start()
        try:
            self.capture.start()
        except Exception:
            if self.indicator is not None:
                self.indicator.stop()
            self.watcher.stop()
            self._work.put(None)
            raise
        self._control("session_start")
        self.a11y.start()
        loops = [(self._tick_loop, "wp-tick"), (self._upload_loop, "wp-upload")]
        if self._auto_enabled:
            loops.append((self._auto_pause_loop, "wp-autopause"))
        for target, name in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _tick_loop(self) -> None:
        last_status = 0.0
        while not self._stop.wait(0.5):
            with self._spool_lock:
                self.spool.tick(time.monotonic_ns())
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                last_status = time.monotonic()
                self._write_status()
            if self.indicator is not None and not self.indicator.alive:
                # The participant must always see that recording is on; without the indicator, stop capturing.
                self.capture.stop()
            if not self.capture.alive() and self.capture.error:
                log.error("capture stopped: %s", self.capture.error)
                return

    def _auto_pause_loop(self) -> None:
        try:
            probe = ScreenProbe(self._display)
        except CaptureError as exc:
            log.warning("automatic pause unavailable: %s", exc)
            return
        idle_limit = self.settings.idle_pause_min * 60.0
        try:
            while not self._stop.wait(1.0):  # a lock or the idle limit pauses within a second
                try:
                    reading = probe.read()
                except Exception as exc:  # the probe's X connection is gone: stop deciding, keep recording rules
                    log.warning("automatic pause probe failed: %s", exc)
                    return
                self._set_auto_pause(auto_pause_reason(reading.idle_s, reading.locked, idle_limit))
        finally:
            probe.close()

    def upload_once(self) -> int:
        """Adopt the server's notice (every ``notice_check_s``, and after a segment was refused as outdated), send
        pending consent receipts, then (only if they all reached the server) sealed segments."""
        if self.uploader.wait_s() > 0:
            return 0
        now = time.monotonic_ns()
        if self._notice_checked_ns is None or now - self._notice_checked_ns >= self._notice_check_ns:
            if self.receipts.fetch_notice():
                return 0  # offline or refused: the segments wait, like the receipts
            self._notice_checked_ns = now
        try:
            self.receipts.apply_portal_requests()  # pause, resume, consent asked for in the portal
        except (httpx.HTTPError, ValueError) as exc:
            log.info("portal requests not fetched: %s", exc)
        result = self.receipts.run()
        self.stats.receipts_sent += result.sent
        if not result.ok:
            return 0  # the server would refuse segments whose consent it has not seen; keep them for later
        if self._audit_head is not None:
            try:
                problem = check_on_device(self.settings.home, self._audit_head)
            except TransportError as exc:
                log.info("audit checkpoint not fetched: %s", exc)
                return 0
            if problem:
                log.error("%s", problem)
                return 0
        n = self.uploader.run_once()
        self.stats.segments_uploaded += n
        if "notice_outdated" in self.uploader.stats.last_error:
            self._notice_checked_ns = None  # the server has a newer notice: fetch it in the next round
        return n

    def _upload_loop(self) -> None:
        while not self._stop.wait(self.settings.upload_interval_s):
            try:
                self.upload_once()
            except Exception:  # keep uploading later; the data stays in the spool
                log.exception("upload round failed")

    def _frame_format(self) -> str:
        program = self.watcher.snapshot.frame_format
        self._format = choose_frame_format(self.settings.frame_format, program, self._recent_cpu, self._format)
        return self._format

    def counters(self) -> dict[str, float]:
        """What ``workprint status`` shows of a running agent: its CPU (whole process tree), memory, frame backlog."""
        cpu, rss = self.usage.sample()
        self._recent_cpu = cpu
        images = self.images
        with self._frames_lock:
            waiting = self._frames_waiting
        return {
            "cpu_percent": round(cpu, 1), "rss_mb": round(rss, 1), "frames_waiting": waiting,
            "frames_dropped_backlog": self.stats.frames_dropped_backlog,
            "frames_dropped_redaction": self.redactor.frames_dropped,
            "ocr_calls": images.ocr_calls if images else 0, "ocr_cache_hits": images.cache_hits if images else 0,
            "events_admitted": self.stats.admitted,
        }  # fmt: skip

    def _write_status(self) -> None:
        try:
            write_agent_status(self.settings.home, self.counters())
        except OSError as exc:  # the status is for the participant's eyes; recording goes on without it
            log.debug("agent status not written: %s", exc)

    def stop(self, *, upload: bool = True) -> None:
        """Stop capture, release what the gate holds, seal the open segment and (by default) upload it.

        Prompt: frames still waiting for redaction are dropped (counted in ``frames_dropped_backlog``); every key,
        click and other event already captured is redacted and journalled, and the open segment is sealed.
        """
        self._stopping.set()
        self.capture.stop()
        self.a11y.stop()
        self._flush_gate()
        self._control("session_stop")
        self._flush_gate()
        self._work.put(None)
        self._worker.join()
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.watcher.stop()
        self.visible.close()
        if self.indicator is not None:
            self.indicator.stop()
        with self._spool_lock:
            self.spool.seal()
        if upload:
            self.upload_once()
        self.receipts.close()
        clear_agent_status(self.settings.home)
