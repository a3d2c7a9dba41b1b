"""The per-session transform (phase 1 of a release build): open, consent-filter, reduce, cut, stage.

``transform_session`` is the same function for the local and the Ray executor. It opens a session's segments one
at a time (a segment that cannot be opened is skipped and named), keeps only consented data, reduces the events to
actions, cuts episodes (idle gaps, app switches, markers) and drops those shorter than ``min_actions``. The steps,
with their frame bytes, are staged as one Parquet file; what the driver needs for the release-wide steps
(k-anonymity of titles and apps, duplicate removal, lineage) comes back as a small JSON-able summary.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from workprint.dataset.actions import Action
from workprint.dataset.agentnet import IDLE_GAP_NS, IMAGE_EXT, split_episodes
from workprint.dataset.consent import Consented, allow_all, filter_consented
from workprint.dataset.fsio import Root
from workprint.dataset.reduce import ReduceOptions, initial_screen, reduce_events
from workprint.dataset.rows import STAGED_SCHEMA
from workprint.dataset.source import SegmentRef, SegmentSource
from workprint.errors import WorkprintError
from workprint.models import Event, FrameEvent


@dataclass(frozen=True, slots=True)
class EpisodeOptions:
    """How sessions become episodes."""

    reduce: ReduceOptions = field(default_factory=ReduceOptions)
    idle_gap_ns: int | None = IDLE_GAP_NS
    split_on_app: bool = True
    min_actions: int = 2


@dataclass(frozen=True, slots=True)
class SessionTask:
    """One (participant, session) to transform: its segment refs in seq order, and where to stage."""

    index: int
    refs: tuple[SegmentRef, ...]


@dataclass(frozen=True, slots=True)
class TransformContext:
    """Everything a worker needs besides the task (picklable: the consent check must be a module-level function)."""

    source: SegmentSource
    staging: Root
    key: bytes
    episodes: EpisodeOptions = field(default_factory=EpisodeOptions)
    consented: Consented = allow_all


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """A keyed, domain-separated hash of an identifier (16 hex digits)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:16]


def _digest(steps: Sequence[Action], images: dict[str, tuple[bytes, str]]) -> str:
    # Exact duplicates: the same actions (code, typed text, window) over the same pixels; times do not count.
    h = hashlib.sha256()
    for a in steps:
        img = images.get(a.frame_id or "")
        h.update(json.dumps([a.to_pyautogui(), a.text, a.app, a.title]).encode())
        h.update(hashlib.sha256(img[0]).digest() if img else b"-")
    return h.hexdigest()


def transform_session(task: SessionTask, ctx: TransformContext) -> dict[str, Any]:
    """Transform one session; returns its summary (episodes, titles, apps, lineage, skipped segments)."""
    events: list[Event] = []
    frames: dict[str, tuple[bytes, str]] = {}
    skipped: list[dict[str, str]] = []
    used: list[tuple[SegmentRef, int, int]] = []
    n_events = 0
    for ref in task.refs:
        try:
            seg = ctx.source.open(ref)
        except (WorkprintError, OSError, KeyError, ValueError) as exc:
            skipped.append({"segment": ref.id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        n_events += len(seg.events)
        kept = filter_consented(seg, ctx.consented)
        if kept is None:
            continue
        used.append((ref, seg.header.t_start_ns, seg.header.t_end_ns))
        events.extend(kept.events)
        fmts = {e.frame_id: e.format for e in kept.events if isinstance(e, FrameEvent)}
        for fid, data in kept.frames.items():
            frames[fid] = (data, IMAGE_EXT.get(fmts.get(fid, "").lower(), "bin"))
    first = task.refs[0]
    summary: dict[str, Any] = {
        "index": task.index, "participant": first.participant, "segments": len(task.refs), "events": n_events,
        "skipped": skipped, "episodes": [], "titles": [], "apps": [], "staged": None, "actions": 0,
    }  # fmt: skip
    if not events:
        return summary
    opts = ctx.episodes
    actions = reduce_events(events, opts.reduce)
    summary["actions"] = len(actions)
    screen = initial_screen(events, opts.reduce.default_screen)
    pid = pseudonym(ctx.key, "participant", first.participant)
    sid = pseudonym(ctx.key, "session", f"{first.participant}/{first.session}")
    rows: dict[str, list[Any]] = {name: [] for name in STAGED_SCHEMA.names}
    titles: set[str] = set()
    apps: set[str] = set()
    episodes = [e for e in split_episodes(actions, opts.idle_gap_ns, opts.split_on_app) if len(e) >= opts.min_actions]
    for n, steps in enumerate(episodes):
        task_id = f"{sid}-{n:03d}"
        digest = _digest(steps, frames)
        t0, t1 = steps[0].t_ns, max(a.t_end_ns for a in steps)
        # Lineage: every segment whose time range meets the episode's (erasure purges the episode with any).
        segs = [[r.id, r.notice_version] for r, s0, s1 in used if s0 <= t1 and s1 >= t0] or [
            [r.id, r.notice_version] for r, _, _ in used
        ]
        summary["episodes"].append({
            "task_id": task_id, "digest": digest, "steps": len(steps), "segments": segs,
            "notices": sorted({r.notice_version for r, _, _ in used}),
        })  # fmt: skip
        for i, a in enumerate(steps):
            titles.add(a.title)
            apps.add(a.app)
            img = frames.get(a.frame_id or "")
            values = {
                "task_id": task_id, "participant": pid, "session": sid, "episode": n, "step": i, "action": a.kind,
                "code": a.to_pyautogui(), "x": a.x, "y": a.y, "text": a.text, "app": a.app, "title": a.title,
                "t_ns": a.t_ns, "t_end_ns": a.t_end_ns, "screen_w": screen[0], "screen_h": screen[1],
                "image_bytes": img[0] if img else None, "image_ext": img[1] if img else None, "digest": digest,
            }  # fmt: skip
            for name, v in values.items():
                rows[name].append(v)
    summary["titles"] = sorted(t for t in titles if t)
    summary["apps"] = sorted(a for a in apps if a)
    if episodes:
        buf = io.BytesIO()
        pq.write_table(pa.table(rows, schema=STAGED_SCHEMA), buf, compression="zstd")
        name = f"session-{task.index:08d}.parquet"
        ctx.staging.put(name, buf.getvalue())
        summary["staged"] = name
    return summary


__all__ = ["EpisodeOptions", "SessionTask", "TransformContext", "pseudonym", "transform_session"]
