"""Build an AgentNet-style dataset from opened segments, streaming one (participant, session) at a time.

Segments must arrive grouped by participant and session and ordered by ``seq`` within a session (the server's
``iter_segments`` yields them so). A session's events are concatenated and reduced; its frames are staged on disk
as they arrive, so memory holds events and actions, never a session's screenshots, and only the frames that some
action refers to are kept. Participant and session ids are replaced by keyed hashes (HMAC-SHA256 under a key made
fresh for each build and never written), so a release cannot be joined to another release or to the raw store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workprint.dataset.actions import Action
from workprint.dataset.agentnet import IDLE_GAP_NS, AgentNetWriter, episode_record, is_safe_frame_id, split_episodes
from workprint.dataset.reduce import ReduceOptions, initial_screen, reduce_events
from workprint.models import Event, FrameEvent
from workprint.segment import Segment

_STAGING = ".staging"
_SAMPLE = 10


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """How actions are reduced and cut into episodes."""

    reduce: ReduceOptions = field(default_factory=ReduceOptions)
    idle_gap_ns: int | None = IDLE_GAP_NS
    split_on_app: bool = True


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build read and wrote."""

    segments: int
    sessions: int
    events: int
    actions: int
    frames: int
    episodes: int
    missing_frames: int
    jsonl_path: Path
    images_dir: Path
    first_actions: tuple[Action, ...] = ()


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """A keyed, domain-separated hash of an identifier (16 hex digits)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:16]


class _Session:
    """One (participant, session) being gathered."""

    def __init__(self, participant: str, session: str) -> None:
        self.participant = participant
        self.session = session
        self.events: list[Event] = []
        self.formats: dict[str, str] = {}


def build_dataset(
    segments: Iterable[Segment], out_dir: Path, *, key: bytes | None = None, options: BuildOptions | None = None
) -> BuildReport:
    """Reduce ``segments`` to actions and write ``agentnet.jsonl`` and ``images/`` under ``out_dir``."""
    opts = options or BuildOptions()
    key = key if key is not None else secrets.token_bytes(32)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = out_dir / _STAGING
    counts = {"segments": 0, "sessions": 0, "events": 0, "actions": 0, "missing": 0}
    sample: list[Action] = []
    next_episode: dict[tuple[str, str], int] = {}
    with AgentNetWriter(out_dir) as writer:

        def finish(s: _Session) -> None:
            actions = reduce_events(s.events, opts.reduce)
            counts["sessions"] += 1
            counts["actions"] += len(actions)
            sample.extend(actions[: _SAMPLE - len(sample)])
            images: dict[str, str] = {}
            for fid in dict.fromkeys(a.frame_id for a in actions if a.frame_id is not None):
                rel = writer.image_path(fid)
                staged = staging / fid
                if rel is None and is_safe_frame_id(fid) and staged.exists():
                    rel = writer.add_image(fid, s.formats.get(fid, "webp"), staged)
                if rel is None:
                    counts["missing"] += 1
                else:
                    images[fid] = rel
            p = pseudonym(key, "participant", s.participant)
            sid = pseudonym(key, "session", f"{s.participant}/{s.session}")
            # A session met again after others (input not grouped) continues its numbering: task ids stay unique.
            first = next_episode.get((s.participant, s.session), 0)
            episodes = split_episodes(actions, opts.idle_gap_ns, opts.split_on_app)
            # The pixel size coordinates were normalised by, so consumers can map them back.
            screen = initial_screen(s.events, opts.reduce.default_screen)
            next_episode[(s.participant, s.session)] = first + len(episodes)
            for n, steps in enumerate(episodes, start=first):
                extra = {"participant": p, "session": sid, "episode": n, "screen": list(screen)}
                writer.write_episode(episode_record(f"{sid}-{n:03d}", steps, images, extra))
            shutil.rmtree(staging, ignore_errors=True)

        current: _Session | None = None
        try:
            for seg in segments:
                h = seg.header
                if current is None or (current.participant, current.session) != (h.participant, h.session):
                    if current is not None:
                        finish(current)
                    current = _Session(h.participant, h.session)
                counts["segments"] += 1
                counts["events"] += len(seg.events)
                current.events.extend(seg.events)
                for e in seg.events:
                    if isinstance(e, FrameEvent):
                        current.formats[e.frame_id] = e.format
                _stage_frames(staging, seg, writer)
            if current is not None:
                finish(current)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return BuildReport(
        segments=counts["segments"],
        sessions=counts["sessions"],
        events=counts["events"],
        actions=counts["actions"],
        frames=len(writer.images),
        episodes=writer.episodes,
        missing_frames=counts["missing"],
        jsonl_path=writer.jsonl_path,
        images_dir=writer.images_dir,
        first_actions=tuple(sample),
    )


def _stage_frames(staging: Path, seg: Segment, writer: AgentNetWriter) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    for fid, data in seg.frames.items():
        if is_safe_frame_id(fid) and writer.image_path(fid) is None:
            (staging / fid).write_bytes(data)


__all__ = ["BuildOptions", "BuildReport", "build_dataset", "pseudonym"]
