"""AgentNet-style JSONL: one line per episode, each step an action with its pre-action frame and PyAutoGUI code.

A line looks like OpenCUA's AgentNet trajectories, with our context kept beside each step::

    {"task_id": "3f0c...-000", "instruction": "", "participant": "9a1b...", "session": "3f0c...", "episode": 0,
     "screen": [1280, 800], "t_start_ns": ..., "t_end_ns": ..., "traj": [
        {"index": 0, "image": "images/5d41402abc4b2a76.webp",
         "value": {"action": "click", "code": "pyautogui.click(x=0.4531, y=0.2375)"},
         "app": "xterm", "title": "~", "t_ns": ..., "t_end_ns": ...}, ...]}

``value.action`` is the action kind (AgentNet puts a written description there; we have none yet, and
``instruction`` stays empty until someone annotates the episode). ``image`` is relative to the JSONL file and is
``null`` when no frame was captured for the step (screenshots not consented, or none taken before it).

Episodes (``split_episodes``) end at idle gaps longer than ``idle_gap_ns`` (60 s), at app switches (the step's app
differs from the previous step's, when both are known) and where the reducer set ``break_before`` (pause, exclusion,
session boundary, explicit marker).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from workprint.dataset.actions import Action

IDLE_GAP_NS = 60 * 1_000_000_000
JSONL_NAME = "agentnet.jsonl"
IMAGES_DIR = "images"
IMAGE_EXT = {"webp": "webp", "jpeg": "jpg", "jpg": "jpg", "png": "png"}
# Frame ids come out of decrypted segments written by devices: only plain names may become file names.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def split_episodes(
    actions: Sequence[Action], idle_gap_ns: int | None = IDLE_GAP_NS, split_on_app: bool = True
) -> list[list[Action]]:
    """Cut a session's actions into episodes at idle gaps, app switches and ``break_before`` marks."""
    episodes: list[list[Action]] = []
    current: list[Action] = []
    for a in actions:
        if current:
            prev = current[-1]
            idle = idle_gap_ns is not None and a.t_ns - prev.t_end_ns > idle_gap_ns
            switched = split_on_app and bool(a.app) and bool(prev.app) and a.app != prev.app
            if idle or switched or a.break_before:
                episodes.append(current)
                current = []
        current.append(a)
    if current:
        episodes.append(current)
    return episodes


def is_safe_frame_id(frame_id: str) -> bool:
    """True when a frame id can name a file (letters, digits, ``_`` and ``-`` only)."""
    return bool(_SAFE_ID.match(frame_id))


def image_name(frame_id: str, fmt: str) -> str:
    """The path of a frame's image relative to the JSONL file, e.g. ``images/5d41402abc4b2a76.webp``."""
    return f"{IMAGES_DIR}/{frame_id}.{IMAGE_EXT.get(fmt.lower(), 'bin')}"


def step_record(index: int, action: Action, image: str | None) -> dict[str, Any]:
    """One ``traj`` entry."""
    return {
        "index": index,
        "image": image,
        "value": {"action": action.kind, "code": action.to_pyautogui()},
        "app": action.app,
        "title": action.title,
        "t_ns": action.t_ns,
        "t_end_ns": action.t_end_ns,
    }


def episode_record(
    task_id: str,
    steps: Sequence[Action],
    images: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One JSONL line: ``images`` maps frame ids to their relative paths (frames missing from it give ``null``)."""
    record: dict[str, Any] = {"task_id": task_id, "instruction": ""}
    record.update(extra or {})
    record["t_start_ns"] = steps[0].t_ns if steps else 0
    record["t_end_ns"] = max((a.t_end_ns for a in steps), default=0)
    record["traj"] = [
        step_record(i, a, images.get(a.frame_id) if a.frame_id is not None else None) for i, a in enumerate(steps)
    ]
    return record


class AgentNetWriter:
    """Writes ``agentnet.jsonl`` (atomically renamed into place on close) and each image once under ``images/``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.images_dir = out_dir / IMAGES_DIR
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = out_dir / JSONL_NAME
        self._tmp = out_dir / (JSONL_NAME + ".tmp")
        self._file: IO[str] | None = self._tmp.open("w", encoding="utf-8")
        self.images: dict[str, str] = {}
        self.episodes = 0

    def image_path(self, frame_id: str) -> str | None:
        """The relative path of this frame's image if it was written already."""
        return self.images.get(frame_id)

    def add_image(self, frame_id: str, fmt: str, source: Path) -> str | None:
        """Move a staged image file into ``images/`` (once per frame id); returns its relative path."""
        if frame_id in self.images:
            return self.images[frame_id]
        if not is_safe_frame_id(frame_id):
            return None
        rel = image_name(frame_id, fmt)
        os.replace(source, self.out_dir / rel)
        self.images[frame_id] = rel
        return rel

    def write_episode(self, record: Mapping[str, Any]) -> None:
        """Append one episode line."""
        if self._file is None:
            raise ValueError("AgentNetWriter: already closed")
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.episodes += 1

    def close(self) -> None:
        """Flush, fsync and move the JSONL into place."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.jsonl_path)

    def __enter__(self) -> AgentNetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        elif self._file is not None:
            # A failed build leaves no half-written JSONL behind.
            self._file.close()
            self._file = None
            self._tmp.unlink(missing_ok=True)


__all__ = [
    "IDLE_GAP_NS",
    "IMAGES_DIR",
    "IMAGE_EXT",
    "JSONL_NAME",
    "AgentNetWriter",
    "episode_record",
    "image_name",
    "is_safe_frame_id",
    "split_episodes",
    "step_record",
]
