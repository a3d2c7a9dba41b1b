"""Phase 2 of a release build: staged sessions -> release shards (Parquet, WebDataset tar, AgentNet JSONL part).

``write_shard`` applies the release-wide decisions the driver made from every session's summary: titles and app
names shared by fewer than k participants become ``<TITLE>`` / ``<APP>``, and duplicate episodes (all but the first
of each digest) are left out. Files are written byte-for-byte deterministically (fixed tar metadata, no
timestamps), so the local and the Ray executor produce identical releases.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from workprint.dataset.fsio import Root
from workprint.dataset.rows import RELEASE_SCHEMA, STEP_COLUMNS

TITLE_PLACEHOLDER = "<TITLE>"
APP_PLACEHOLDER = "<APP>"
# Redaction placeholders the device writes into typed text: <EMAIL>, <CREDIT_CARD>, ...
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]{1,40}>")


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One output shard: the staged session files it is made of, in order."""

    index: int
    staged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShardContext:
    """The release-wide decisions and where to read and write."""

    staging: Root
    out: Root
    kept_titles: frozenset[str]
    kept_apps: frozenset[str]
    dropped: frozenset[str]


def _general(value: str, kept: frozenset[str], placeholder: str) -> str:
    return value if not value or value in kept else placeholder


def _tar_header(name: str, size: int) -> bytes:
    """The USTAR header ``tarfile`` writes for a regular file (mode 644, mtime 0, no owner), built directly.

    ``TarFile.addfile`` copies its ``TarInfo`` and formats every field through generic helpers: that was half of a
    shard's time for two small members per step. Names longer than the 100-byte name field go through ``tarfile``.
    """
    raw = name.encode()
    if len(raw) > 100:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 0, 0o644
        return info.tobuf(tarfile.USTAR_FORMAT)
    head = bytearray(512)
    head[: len(raw)] = raw
    head[100:157] = b"0000644\x000000000\x000000000\x00%011o\x0000000000000\x00        0" % size
    head[257:265] = tarfile.POSIX_MAGIC
    head[148:155] = b"%06o\x00" % sum(head)
    return bytes(head)


def _tar_add(tar: list[bytes], name: str, data: bytes) -> None:
    tar.append(_tar_header(name, len(data)))
    tar.append(data)
    if len(data) % 512:
        tar.append(bytes(512 - len(data) % 512))


def _tar_bytes(tar: list[bytes]) -> bytes:
    """The members followed by ``tarfile``'s end of archive: two zero blocks, then zeros to a 10240-byte record."""
    size = sum(len(b) for b in tar) + 1024
    return b"".join(tar) + bytes(1024 + (-size % tarfile.RECORDSIZE))


def write_shard(task: ShardTask, ctx: ShardContext) -> dict[str, Any]:
    """Write shard ``task.index``; returns its files' sha256s and its counts for the datasheet."""
    files: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {"actions": Counter(), "apps": Counter(), "redactions": Counter()}
    participants: set[str] = set()
    steps = episodes = frames = 0
    out_rows: dict[str, list[Any]] = {name: [] for name in RELEASE_SCHEMA.names}
    lines: list[str] = []
    tar: list[bytes] = []
    images_written: set[str] = set()
    for name in task.staged:
        table = pq.read_table(io.BytesIO(ctx.staging.get(name)))
        current: dict[str, Any] | None = None
        for r in table.to_pylist():
            if r["task_id"] in ctx.dropped:
                continue
            r["title"] = _general(r["title"], ctx.kept_titles, TITLE_PLACEHOLDER)
            r["app"] = _general(r["app"], ctx.kept_apps, APP_PLACEHOLDER)
            image_path = None
            if r["image_bytes"] is not None:
                image_path = f"images/{hashlib.sha256(r['image_bytes']).hexdigest()[:32]}.{r['image_ext']}"
                frames += 1
                if image_path not in images_written:
                    images_written.add(image_path)
                    files[image_path] = ctx.out.put(image_path, r["image_bytes"])
            for c in STEP_COLUMNS:
                out_rows[c].append(r[c])
            out_rows["image"].append(None if image_path is None else {"bytes": r["image_bytes"], "path": image_path})
            key = f"{r['task_id']}_{r['step']:04d}"
            meta = {c: r[c] for c in STEP_COLUMNS}
            _tar_add(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
            if r["image_bytes"] is not None:
                _tar_add(tar, f"{key}.{r['image_ext']}", r["image_bytes"])
            if current is None or current["task_id"] != r["task_id"]:
                if current is not None:
                    lines.append(json.dumps(current, ensure_ascii=False, separators=(",", ":")))
                episodes += 1
                participants.add(r["participant"])
                current = {
                    "task_id": r["task_id"], "instruction": "", "participant": r["participant"],
                    "session": r["session"], "episode": r["episode"], "screen": [r["screen_w"], r["screen_h"]],
                    "t_start_ns": r["t_ns"], "t_end_ns": r["t_end_ns"], "traj": [],
                }  # fmt: skip
            current["t_end_ns"] = max(current["t_end_ns"], r["t_end_ns"])
            current["traj"].append({
                "index": r["step"], "image": image_path,
                "value": {"action": r["action"], "code": r["code"]},
                "app": r["app"], "title": r["title"], "t_ns": r["t_ns"], "t_end_ns": r["t_end_ns"],
            })  # fmt: skip
            steps += 1
            counts["actions"][r["action"]] += 1
            counts["apps"][r["app"] or "(none)"] += 1
            for m in PLACEHOLDER.findall(r["text"] or ""):
                counts["redactions"][m] += 1
        if current is not None:
            lines.append(json.dumps(current, ensure_ascii=False, separators=(",", ":")))
    stem = f"{task.index:05d}"
    if steps:
        buf = io.BytesIO()
        pq.write_table(pa.table(out_rows, schema=RELEASE_SCHEMA), buf, compression="zstd")
        files[f"data/train-{stem}.parquet"] = ctx.out.put(f"data/train-{stem}.parquet", buf.getvalue())
        files[f"webdataset/shard-{stem}.tar"] = ctx.out.put(f"webdataset/shard-{stem}.tar", _tar_bytes(tar))
    ctx.staging.put(f"agentnet-{stem}.jsonl", "".join(line + "\n" for line in lines).encode())
    return {
        "index": task.index, "files": files, "steps": steps, "episodes": episodes, "frames": frames,
        "participants": sorted(participants), **{k: dict(v) for k, v in counts.items()},
    }  # fmt: skip


__all__ = ["APP_PLACEHOLDER", "PLACEHOLDER", "TITLE_PLACEHOLDER", "ShardContext", "ShardTask", "write_shard"]
