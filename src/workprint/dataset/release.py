"""Build a release: sessions -> episodes -> k-anonymous, deduplicated, immutable, versioned release files.

``build_release(source, out, release_id, ...)`` is the driver. Phase 1 (``session.transform_session``, one task per
(participant, session)) stages each session's steps; the driver then decides, from small summaries only, which
titles and app names at least k distinct participants share and which episodes duplicate an earlier one; phase 2
(``shards.write_shard``) writes the shards. Both phases run on the chosen executor (``local`` or ``ray``) and
read and write through ``fsio.Root`` (a directory or ``s3://``), so memory stays bounded by one session and one
shard whatever the corpus size. The driver finally writes ``agentnet.jsonl``, the datasheet, the manifest and the
lineage rows. A release version directory is never written again once complete: a rebuild is a new version.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workprint.dataset.consent import Consented, allow_all
from workprint.dataset.datasheet import datasheet_markdown, manifest_bytes
from workprint.dataset.executors import Executor, run_tasks
from workprint.dataset.fsio import Root
from workprint.dataset.reduce import ReduceOptions
from workprint.dataset.session import EpisodeOptions, SessionTask, TransformContext, transform_session
from workprint.dataset.shards import ShardContext, ShardTask, write_shard
from workprint.dataset.source import SegmentRef, SegmentSource
from workprint.errors import ConfigError
from workprint.store.lineage_tables import ExampleRow, LineageStore, ReleaseRow

ReceiptOf = Callable[[str, str], str]
"""``receipt_of(participant, notice_version) -> consent receipt id`` (for lineage)."""


@dataclass(frozen=True, slots=True)
class ReleaseOptions:
    """How a release is built."""

    episodes: EpisodeOptions = field(default_factory=EpisodeOptions)
    k: int = 5
    shard_steps: int = 2000
    executor: Executor = "local"
    progress: bool = False

    def to_json(self) -> dict[str, Any]:
        """The options that shape the content (recorded with the release, used by rebuilds)."""
        d = asdict(self.episodes)
        d["reduce"]["default_screen"] = list(self.episodes.reduce.default_screen)
        return {"episodes": d, "k": self.k, "shard_steps": self.shard_steps}

    @classmethod
    def from_json(cls, d: dict[str, Any], executor: Executor = "local") -> ReleaseOptions:
        """Inverse of ``to_json``."""
        e = dict(d["episodes"])
        r = dict(e.pop("reduce"))
        r["default_screen"] = tuple(r["default_screen"])
        return cls(EpisodeOptions(reduce=ReduceOptions(**r), **e), int(d["k"]), int(d["shard_steps"]), executor)


@dataclass(frozen=True, slots=True)
class SkippedSegment:
    """A segment the build could not use, and why (``ErrorClass: message``)."""

    segment_id: str
    error: str


@dataclass(frozen=True, slots=True)
class ReleaseReport:
    """What a build read and wrote."""

    release_id: str
    version: int
    location: str
    segments: int
    sessions: int
    events: int
    actions: int
    episodes: int
    steps: int
    frames: int
    participants: int
    duplicates: int
    skipped: tuple[SkippedSegment, ...]
    manifest_sha256: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each step: ``sessions`` (phase 1), ``decide`` (the driver's k-anonymity and duplicates),
    ``shards`` (phase 2) and ``finish`` (the driver's ``agentnet.jsonl``, datasheet, manifest and lineage)."""

    @property
    def ok(self) -> bool:
        """True when no segment was skipped."""
        return not self.skipped


def version_dir(release_id: str, version: int) -> str:
    """The directory of a release version under the output root."""
    return f"{release_id}/v{version:04d}"


def _sessions(refs: Iterable[SegmentRef], exclude: frozenset[str]) -> Iterator[SessionTask]:
    current: list[SegmentRef] = []
    index = 0
    for ref in refs:
        if ref.participant in exclude:
            continue
        if current and (current[0].participant, current[0].session) != (ref.participant, ref.session):
            yield SessionTask(index, tuple(current))
            index += 1
            current = []
        current.append(ref)
    if current:
        yield SessionTask(index, tuple(current))


def _session_weight(task: SessionTask) -> float:
    # The device rotates segments by age and size, so their count tracks how much a session holds.
    return float(len(task.refs))


def _kept(summaries: list[dict[str, Any]], field_name: str, k: int) -> frozenset[str]:
    who: dict[str, set[str]] = {}
    for s in summaries:
        for v in s[field_name]:
            who.setdefault(v, set()).add(s["participant"])
    return frozenset(v for v, ps in who.items() if len(ps) >= k)


def _shards(summaries: list[dict[str, Any]], dropped: frozenset[str], shard_steps: int) -> list[ShardTask]:
    shards: list[ShardTask] = []
    staged: list[str] = []
    steps = 0
    for s in summaries:
        if s["staged"] is None:
            continue
        staged.append(s["staged"])
        steps += sum(e["steps"] for e in s["episodes"] if e["task_id"] not in dropped)
        if steps >= shard_steps:
            shards.append(ShardTask(len(shards), tuple(staged)))
            staged, steps = [], 0
    if staged:
        shards.append(ShardTask(len(shards), tuple(staged)))
    return shards


def _validate(release_id: str, options: ReleaseOptions) -> None:
    if not release_id or not all(c.isalnum() or c in "-_." for c in release_id) or release_id.startswith("."):
        raise ConfigError(f"release_id: expected letters, digits, '-', '_' or '.', got {release_id!r}")
    if options.k < 1:
        raise ConfigError(f"k: expected at least 1, got {options.k!r}")
    if options.episodes.min_actions < 1:
        raise ConfigError(f"min_actions: expected at least 1, got {options.episodes.min_actions!r}")


def build_release(
    source: SegmentSource,
    out: str | Path,
    release_id: str,
    *,
    options: ReleaseOptions | None = None,
    key: bytes | None = None,
    version: int | None = None,
    consented: Consented = allow_all,
    receipt_of: ReceiptOf | None = None,
    exclude: Iterable[str] = (),
    lineage: LineageStore | None = None,
    clock: Callable[[], int] = time.time_ns,
) -> ReleaseReport:
    """Build version ``version`` (default: the next) of ``release_id`` under ``out`` from ``source``."""
    opts = options or ReleaseOptions()
    _validate(release_id, opts)
    root = Root(out)
    if version is None:
        existing = [int(d[1:]) for d in root.dirs(release_id) if d.startswith("v") and d[1:].isdigit()]
        version = max([lineage.next_version(release_id) if lineage else 1, *(v + 1 for v in existing)])
    if key is None:
        prev = lineage.releases_of(release_id) if lineage else []
        key = prev[-1].pseudonym_key if prev else secrets.token_bytes(32)
    vdir = version_dir(release_id, version)
    if root.exists(vdir):
        raise ConfigError(f"release {release_id!r} v{version}: already exists at {root.path(vdir)} (immutable)")
    staging = root.child(f"{release_id}/.staging-v{version:04d}")
    out_root = root.child(vdir)
    try:
        return _build(source, root, out_root, staging, release_id, version, opts, key, consented, receipt_of,
                      frozenset(exclude), lineage, clock)  # fmt: skip
    finally:
        # Staged steps hold un-generalised titles and dropped duplicates: never leave them behind.
        staging.delete("")


def _build(
    source: SegmentSource, root: Root, out_root: Root, staging: Root, release_id: str, version: int,
    opts: ReleaseOptions, key: bytes, consented: Consented, receipt_of: ReceiptOf | None, exclude: frozenset[str],
    lineage: LineageStore | None, clock: Callable[[], int],
) -> ReleaseReport:  # fmt: skip
    clocks = [time.perf_counter()]
    tasks = list(_sessions(source.refs(), exclude))
    ctx = TransformContext(source, staging, key, opts.episodes, consented)
    summaries = run_tasks(transform_session, tasks, ctx, opts.executor, label="sessions", progress=opts.progress,
                          weight=_session_weight)  # fmt: skip
    clocks.append(time.perf_counter())
    kept_titles = _kept(summaries, "titles", opts.k)
    kept_apps = _kept(summaries, "apps", opts.k)
    seen: set[str] = set()
    dropped: set[str] = set()
    for s in summaries:
        for e in s["episodes"]:
            if e["digest"] in seen:
                dropped.add(e["task_id"])
            else:
                seen.add(e["digest"])
    shard_tasks = _shards(summaries, frozenset(dropped), opts.shard_steps)
    sctx = ShardContext(staging, out_root, kept_titles, kept_apps, frozenset(dropped))
    clocks.append(time.perf_counter())
    shards = run_tasks(write_shard, shard_tasks, sctx, opts.executor, label="shards", progress=opts.progress)
    clocks.append(time.perf_counter())
    files: dict[str, str] = {}
    for sh in shards:
        files.update(sh["files"])
    parts = (staging.get(f"agentnet-{t.index:05d}.jsonl") for t in shard_tasks)
    files["agentnet.jsonl"] = out_root.put_stream("agentnet.jsonl", parts)
    sheet = _datasheet(release_id, version, opts, summaries, shards, kept_titles, kept_apps, len(dropped))
    files["datasheet.json"] = out_root.put("datasheet.json", json.dumps(sheet, indent=1, sort_keys=True).encode())
    files["datasheet.md"] = out_root.put("datasheet.md", datasheet_markdown(sheet).encode())
    manifest_sha = out_root.put("manifest.json", manifest_bytes(files))
    skipped = tuple(SkippedSegment(x["segment"], x["error"]) for s in summaries for x in s["skipped"])
    if lineage is not None:
        examples = [
            ExampleRow(e["task_id"], s["participant"], seg, receipt_of(s["participant"], n) if receipt_of else "", n)
            for s in summaries for e in s["episodes"] if e["task_id"] not in dropped
            for seg, n in e["segments"]
        ]  # fmt: skip
        row = ReleaseRow(release_id, version, root.location, "active", clock(), opts.to_json(), manifest_sha, key)
        lineage.add_release(row, examples)
    clocks.append(time.perf_counter())
    steps = ("sessions", "decide", "shards", "finish")
    seconds = {step: round(b - a, 3) for step, a, b in zip(steps, clocks[:-1], clocks[1:], strict=True)}
    return ReleaseReport(
        release_id=release_id, version=version, location=out_root.location,
        segments=sum(s["segments"] for s in summaries),
        sessions=len(summaries), events=sum(s["events"] for s in summaries),
        actions=sum(s["actions"] for s in summaries), episodes=sum(sh["episodes"] for sh in shards),
        steps=sum(sh["steps"] for sh in shards), frames=sum(sh["frames"] for sh in shards),
        participants=sheet["counts"]["participants"], duplicates=len(dropped), skipped=skipped,
        manifest_sha256=manifest_sha, seconds=seconds,
    )  # fmt: skip


def _merge(shards: list[dict[str, Any]], name: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for sh in shards:
        for k, v in sh[name].items():
            total[k] = total.get(k, 0) + int(v)
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _datasheet(
    release_id: str, version: int, opts: ReleaseOptions, summaries: list[dict[str, Any]],
    shards: list[dict[str, Any]], kept_titles: frozenset[str], kept_apps: frozenset[str], duplicates: int,
) -> dict[str, Any]:  # fmt: skip
    titles = {t for s in summaries for t in s["titles"]}
    apps = {a for s in summaries for a in s["apps"]}
    return {
        "release_id": release_id,
        "version": version,
        "k": opts.k,
        "options": opts.to_json(),
        "counts": {
            "participants": len({p for sh in shards for p in sh["participants"]}),
            "sessions": sum(1 for s in summaries if s["staged"] is not None),
            "episodes": sum(sh["episodes"] for sh in shards),
            "steps": sum(sh["steps"] for sh in shards),
            "frames": sum(sh["frames"] for sh in shards),
            "duplicates_removed": duplicates,
            "segments_skipped": sum(len(s["skipped"]) for s in summaries),
        },
        "generalised": {"titles": len(titles - kept_titles), "apps": len(apps - kept_apps)},
        "notice_versions": sorted({n for s in summaries for e in s["episodes"] for n in e["notices"]}),
        "actions": _merge(shards, "actions"),
        "apps": _merge(shards, "apps"),
        "redactions": _merge(shards, "redactions"),
    }


__all__ = ["ReleaseOptions", "ReleaseReport", "SkippedSegment", "build_release", "version_dir"]
