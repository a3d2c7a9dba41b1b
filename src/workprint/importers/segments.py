"""Imported events -> the privacy gate (exclusions, redaction, scopes) -> segments of at most 60 s.

The same gate the agent runs on live capture: what an excluded window showed or a typed secret never reaches a
segment. Pre-action frames come from the screen video when there is one and screenshots are in ``scopes``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace

from workprint.importers.ducktrack import Recording
from workprint.importers.video import frames_before
from workprint.models import ALL_SCOPES, Event, FrameEvent, Scope, is_action
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.exclusions import ExclusionRules
from workprint.privacy.gate import Item, PrivacyGate, Step
from workprint.privacy.redact.step import KeyRedactor
from workprint.privacy.scopes import scopes_of_event
from workprint.segment import Segment, SegmentHeader, declared_counts

SEGMENT_NS = 60 * 1_000_000_000
REDACTOR_VERSION = "import"


def _with_frames(rec: Recording, scopes: frozenset[str]) -> list[Item]:
    items: list[Item] = [(e, None) for e in rec.events]
    if rec.video is None or "screenshots" not in scopes:
        return items
    actions = [e for e in rec.events if is_action(e)]
    offset = rec.video_start_s - rec.t0_s
    images = frames_before(rec.video, [a.t_ns / 1e9 - offset - 0.001 for a in actions])
    framed: dict[int, tuple[FrameEvent, bytes]] = {}
    for a, img in zip(actions, images, strict=True):
        if img is not None:
            fid = f"v{a.t_ns}"
            w, h = rec.screen
            framed[id(a)] = (FrameEvent(a.t_ns, a.wall_ns, fid, w, h, "webp", hashlib.sha256(img).hexdigest(),
                                        a.t_ns), img)  # fmt: skip
    out: list[Item] = []
    for e, _ in items:
        if id(e) in framed:
            out.append(framed[id(e)])
        out.append((e, None))
    return out


def gate_and_segment(
    rec: Recording,
    participant: str,
    session: str,
    *,
    device: str = "import",
    scopes: Iterable[Scope] = ALL_SCOPES,
    notice_version: str = "1",
    wall0_ns: int | None = None,
    steps: list[Step] | None = None,
) -> list[Segment]:
    """Pass a recording through the privacy gate and cut it into segments (``wall0_ns`` rebases wall times)."""
    allowed = frozenset(scopes)
    gate = PrivacyGate(
        consented=lambda: allowed,
        steps=steps if steps is not None else [ExclusionStep(ExclusionRules()), KeyRedactor()],
    )
    admitted: list[Item] = []
    for event, data in _with_frames(rec, allowed):
        admitted.extend(gate.admit(event, data))
    admitted.extend(gate.flush())
    shift = 0 if wall0_ns is None else wall0_ns - rec.wall0_ns
    segments: list[Segment] = []
    chunk: list[Item] = []
    for item in admitted:
        if chunk and item[0].t_ns - chunk[0][0].t_ns >= SEGMENT_NS:
            segments.append(_segment(chunk, participant, session, device, len(segments), notice_version, shift))
            chunk = []
        chunk.append(item)
    if chunk:
        segments.append(_segment(chunk, participant, session, device, len(segments), notice_version, shift))
    return segments


def _segment(
    items: list[Item], participant: str, session: str, device: str, seq: int, notice: str, shift: int
) -> Segment:
    events: list[Event] = [replace(e, wall_ns=e.wall_ns + shift) for e, _ in items]
    frames = {e.frame_id: d for e, d in items if isinstance(e, FrameEvent) and d is not None}
    declared = sorted({s for e in events for s in scopes_of_event(e)})
    times = [e.t_ns for e in events]
    walls = [e.wall_ns for e in events]
    header = SegmentHeader(
        participant=participant, device=device, session=session, seq=seq, t_start_ns=min(times),
        t_end_ns=max(times), wall_start_ns=min(walls), wall_end_ns=max(walls), scopes=tuple(declared),
        notice_version=notice, redactor_version=REDACTOR_VERSION, counts=declared_counts(events),
    )  # fmt: skip
    return Segment(header=header, events=tuple(events), frames=frames)


__all__ = ["REDACTOR_VERSION", "SEGMENT_NS", "gate_and_segment"]
