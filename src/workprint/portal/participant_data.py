"""A participant's own data, for the portal: timeline, partial erasure, the archive and their devices.

Every read goes through ``Access.read_my_segment`` (audited, own segments only). Partial erasure (one action, an
episode, a time range) rewrites each touched segment without the erased events, sealed again to the participant's
public key, and deletes the old ciphertext; a segment left empty is deleted. Each erasure is also recorded as an
erasure request, the path a consent withdrawal takes, so the dataset pipeline purges it from releases.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from workprint import segment as seg
from workprint.dataset.actions import Action
from workprint.dataset.reduce import reduce_events
from workprint.errors import BadRequest, Forbidden, NotFound, Unprocessable
from workprint.models import ControlEvent, Event, FrameEvent, to_record
from workprint.server.api import ServerAPI
from workprint.server.identity import Principal
from workprint.store import consent_tables as ct
from workprint.store import tables as t
from workprint.store.metadata import append_audit
from workprint.store.records import AuditEvent, Device, SegmentRecord

__all__ = ["Episode", "SessionView", "archive", "delete_quarantined", "erase_all", "erase_range", "erase_wall_range",
           "open_own", "own_devices", "revoke_own_device", "timeline"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Episode:
    """Actions between two breaks (pause, exclusion, session boundary), with their frames' bytes."""

    index: int
    actions: tuple[Action, ...]
    frames: dict[str, bytes]

    @property
    def t_start_ns(self) -> int:
        return self.actions[0].t_ns

    @property
    def t_end_ns(self) -> int:
        return max(a.t_end_ns for a in self.actions)


@dataclass(frozen=True, slots=True)
class SessionView:
    """One recording session: its segments, episodes and the last pause/resume/consent marker it carried."""

    session: str
    device_id: str
    wall_start_ns: int
    wall_end_ns: int
    segments: tuple[SegmentRecord, ...]
    episodes: tuple[Episode, ...]
    last_control: str
    quarantined: tuple[tuple[str, str], ...] = ()  # (segment id, why) of segments that failed to open


def open_own(api: ServerAPI, p: Principal, rec: SegmentRecord) -> seg.Segment | None:
    """One of the caller's segments (the read audited), or None when it is quarantined: it failed to open, so it
    is shown as such and never used, and no page fails because of it."""
    try:
        return api.access.read_my_segment(p, rec.id)
    except Unprocessable as exc:
        if exc.code != "quarantined":
            raise
        return None


def delete_quarantined(api: ServerAPI, p: Principal, segment_id: str) -> None:
    """Delete one of the caller's quarantined segments (its bytes are refused from then on)."""
    pid = _pid(p)
    rec = api.metadata.segment(segment_id)
    if rec is None or rec.participant_id != pid or segment_id not in api.metadata.quarantined([segment_id]):
        raise NotFound(f"segment {segment_id!r}: not among your quarantined segments")
    api.replace_segment(rec, None, AuditEvent(p.actor, "segment.delete", f"segment:{segment_id}",
                                              {"participant_id": pid, "quarantined": True}))  # fmt: skip


def _pid(p: Principal) -> str:
    if not p.has("participant") or p.participant_id is None:
        raise Forbidden("participant data: requires the participant role")
    return p.participant_id


def timeline(api: ServerAPI, p: Principal, session: str | None = None) -> list[SessionView]:
    """The caller's sessions (newest first), or only ``session``; each segment read is audited."""
    recs = api.access.my_segments(p)
    by_session: dict[str, list[SegmentRecord]] = {}
    for r in recs:
        if session is None or r.session == session:
            by_session.setdefault(r.session, []).append(r)
    if session is not None and not by_session:
        raise NotFound(f"session {session!r}: not found")
    views = []
    for sid, rs in by_session.items():
        rs.sort(key=lambda r: r.seq)
        events: list[Event] = []
        frames: dict[str, bytes] = {}
        held_back: list[str] = []
        for r in rs:
            s = open_own(api, p, r)
            if s is None:
                held_back.append(r.id)
                continue
            events.extend(s.events)
            frames.update(s.frames)
        controls = [e.kind for e in events if isinstance(e, ControlEvent) and e.kind in ("pause", "resume", "consent")]
        last = controls[-1] if controls else ""
        episodes: list[list[Action]] = []
        for a in reduce_events(events):
            if a.break_before or not episodes:
                episodes.append([])
            episodes[-1].append(a)
        eps = tuple(
            Episode(i, tuple(acts), {f: frames[f] for a in acts if (f := a.frame_id) is not None and f in frames})
            for i, acts in enumerate(episodes)
        )
        why = api.metadata.quarantined(held_back)
        views.append(SessionView(sid, rs[0].device_id, rs[0].wall_start_ns, rs[-1].wall_end_ns, tuple(rs), eps, last,
                                 tuple((i, why.get(i, "")) for i in held_back)))  # fmt: skip
    views.sort(key=lambda v: v.wall_start_ns, reverse=True)
    return views


def _rewrite(api: ServerAPI, p: Principal, rec: SegmentRecord, t0: int, t1: int) -> int:
    """Drop ``rec``'s events with ``t0 <= t_ns <= t1`` (and their frames); returns the number of events dropped."""
    s = open_own(api, p, rec)
    if s is None:  # unreadable, so which events fall in the range is unknown: the whole segment goes
        detail = {"participant_id": rec.participant_id, "quarantined": True}
        api.replace_segment(rec, None, AuditEvent(p.actor, "segment.erase_part", f"segment:{rec.id}", detail))
        return (rec.counts and sum(rec.counts.values())) or 1
    kept = [e for e in s.events if not t0 <= e.t_ns <= t1]
    dropped = len(s.events) - len(kept)
    if dropped == 0:
        return 0
    frame_ids = {e.frame_id for e in kept if isinstance(e, FrameEvent)}
    remaining = seg.Segment(s.header, tuple(kept), {k: v for k, v in s.frames.items() if k in frame_ids})
    detail = {"participant_id": rec.participant_id, "dropped_events": dropped}
    audit = AuditEvent(p.actor, "segment.erase_part", f"segment:{rec.id}", detail)
    api.replace_segment(rec, remaining if kept else None, audit)
    return dropped


def erase_range(api: ServerAPI, p: Principal, session: str, t0: int, t1: int, what: str) -> int:
    """Erase the caller's events of ``session`` in ``[t0, t1]`` (monotonic ns); returns events erased."""
    pid = _pid(p)
    if t1 < t0:
        raise BadRequest(f"range: end {t1} is before start {t0}")
    recs = [r for r in api.access.my_segments(p) if r.session == session]
    if not recs:
        raise NotFound(f"session {session!r}: not found")
    touched = [r for r in recs if r.t_start_ns <= t1 and r.t_end_ns >= t0]
    n = sum(_rewrite(api, p, r, t0, t1) for r in touched)
    scopes = tuple(sorted({s for r in touched for s in r.scopes}))
    _erasure_request(api, p, pid, scopes, f"portal-{what}-{uuid.uuid4().hex}", {"session": session, "events": n})
    return n


def erase_wall_range(api: ServerAPI, p: Principal, w0: int, w1: int) -> int:
    """Erase the caller's events whose wall time falls in ``[w0, w1]`` (ns since the epoch); returns events erased."""
    pid = _pid(p)
    if w1 < w0:
        raise BadRequest(f"end: {w1} is before start {w0}")
    touched = [r for r in api.access.my_segments(p) if r.wall_start_ns <= w1 and r.wall_end_ns >= w0]
    n = 0
    for r in touched:  # each segment maps wall time to its own monotonic clock by its own offset
        off = r.wall_start_ns - r.t_start_ns
        n += _rewrite(api, p, r, w0 - off, w1 - off)
    scopes = tuple(sorted({s for r in touched for s in r.scopes}))
    _erasure_request(api, p, pid, scopes, f"portal-range-{uuid.uuid4().hex}", {"wall": [w0, w1], "events": n})
    return n


def _erasure_request(
    api: ServerAPI, p: Principal, pid: str, scopes: tuple[str, ...], rid: str, d: dict[str, object]
) -> None:
    now = api.now()

    def fn(conn: Connection) -> None:
        req = ct.add_erasure_request(conn, pid, scopes, rid, now)
        detail = {**d, "scopes": list(scopes), "request_id": req, "participant_id": pid}
        append_audit(conn, AuditEvent(p.actor, "erasure.request", f"participant:{pid}", detail), now)

    api.metadata.write(fn)


def erase_all(api: ServerAPI, p: Principal) -> int:
    """Erase everything: an erasure request for every scope, then crypto-shredding; returns blobs deleted."""
    pid = _pid(p)
    scopes = tuple(sorted({s for r in api.access.my_segments(p) for s in r.scopes}))
    _erasure_request(api, p, pid, scopes, f"portal-all-{uuid.uuid4().hex}", {"all": True})
    return api.erase_participant(pid, actor=p.actor)


def archive(api: ServerAPI, p: Principal) -> bytes:
    """A zip of everything held about the caller: segments as JSON, frames as images, consent, devices, accesses."""
    pid = _pid(p)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        index = []
        for r in api.access.my_segments(p):
            s = open_own(api, p, r)
            if s is None:
                why = api.metadata.quarantined([r.id]).get(r.id, "")
                index.append({"id": r.id, "session": r.session, "seq": r.seq, "quarantined": why})
                continue
            h = s.header
            doc = {"id": r.id, "session": h.session, "seq": h.seq, "device": h.device, "scopes": list(h.scopes),
                   "wall_start_ns": h.wall_start_ns, "wall_end_ns": h.wall_end_ns, "notice_version": h.notice_version,
                   "events": [to_record(e) for e in s.events]}  # fmt: skip
            z.writestr(f"segments/{r.id}.json", json.dumps(doc, indent=1))
            fmts = {e.frame_id: e.format for e in s.events if isinstance(e, FrameEvent)}
            for fid, data in sorted(s.frames.items()):
                z.writestr(f"frames/{r.id}/{fid}.{fmts.get(fid, 'bin')}", data)
            index.append({"id": r.id, "session": r.session, "seq": r.seq, "frames": len(s.frames)})
        with api.metadata.engine.connect() as conn:
            receipts = ct.countersigned_receipts(conn, pid)
        devices = [{"id": d.id, "name": d.name, "created_at": d.created_at, "revoked_at": d.revoked_at}
                   for d in own_devices(api, p)]  # fmt: skip
        accesses = [pe.entry.to_dict() for pe in api.access.my_accesses(p)]
        z.writestr("consent_receipts.json", json.dumps(receipts, indent=1))
        z.writestr("devices.json", json.dumps(devices, indent=1))
        z.writestr("accesses.json", json.dumps(accesses, indent=1))
        z.writestr("manifest.json", json.dumps({"participant_id": pid, "segments": index}, indent=1))
    return buf.getvalue()


def own_devices(api: ServerAPI, p: Principal) -> list[Device]:
    """The caller's enrolled devices, revoked ones included."""
    pid = _pid(p)
    d = t.devices.c
    with api.metadata.engine.connect() as conn:
        rows = conn.execute(select(t.devices).where(d.participant_id == pid).order_by(d.created_at)).mappings()
        return [Device(r["id"], r["participant_id"], r["name"], r["token_hash"], r["created_at"], r["revoked_at"])
                for r in rows]  # fmt: skip


def revoke_own_device(api: ServerAPI, p: Principal, device_id: str) -> None:
    """Revoke one of the caller's devices; someone else's is "not found"."""
    if device_id not in {d.id for d in own_devices(api, p) if not d.revoked}:
        raise NotFound(f"device {device_id!r}: not found among your active devices")
    api.revoke_device(device_id, actor=p.actor)
