"""The dataset pipeline: raw events -> AgentNet actions -> episodes -> immutable, versioned releases.

- ``actions``: the ``Action`` record and its PyAutoGUI code (``Action.to_pyautogui()``).
- ``reduce``: ``reduce_events(events) -> list[Action]``, the pure reduction of one session.
- ``agentnet``: episode splitting and the AgentNet-style JSONL writer; ``build``: the v0 single-file builder.
- ``source``: ``SegmentSource`` (``refs()``, ``open(ref)``): ``ServerSource`` (audited reads), ``MemorySource``.
- ``consent``: build-time consent filter (``Consented`` callable, default ``allow_all``).
- ``session``: the per-session transform (phase 1); ``shards``: release shards (phase 2); ``executors``: local or
  Ray Data; ``fsio``: local directories and ``s3://`` through ``pyarrow.fs``.
- ``release``: ``build_release(source, out, release_id, ...) -> ReleaseReport``; ``purge``: erasure reaches releases.

A release version ``<out>/<release_id>/v0001/`` holds ``data/train-*.parquet`` (Hugging Face ``datasets`` loads it
as-is, ``image`` decoded), ``webdataset/shard-*.tar``, ``agentnet.jsonl`` + ``images/``, ``datasheet.{md,json}`` and
``manifest.json`` (sha256 of every file). Participant ids are keyed hashes (key kept in the lineage tables, never in
a release); titles and app names shared by fewer than k participants are generalised; exact duplicates removed.
"""

from workprint.dataset.actions import ACTION_KINDS, Action, ActionKind
from workprint.dataset.agentnet import AgentNetWriter, episode_record, split_episodes
from workprint.dataset.build import BuildOptions, BuildReport, build_dataset, pseudonym
from workprint.dataset.consent import Consented, allow_all, filter_consented
from workprint.dataset.purge import purge_participant, purge_pending
from workprint.dataset.reduce import ReduceOptions, reduce_events
from workprint.dataset.release import ReleaseOptions, ReleaseReport, SkippedSegment, build_release
from workprint.dataset.session import EpisodeOptions
from workprint.dataset.source import MemorySource, SegmentRef, SegmentSource, ServerSource

__all__ = [
    "ACTION_KINDS",
    "Action",
    "ActionKind",
    "AgentNetWriter",
    "BuildOptions",
    "BuildReport",
    "Consented",
    "EpisodeOptions",
    "MemorySource",
    "ReduceOptions",
    "ReleaseOptions",
    "ReleaseReport",
    "SegmentRef",
    "SegmentSource",
    "ServerSource",
    "SkippedSegment",
    "allow_all",
    "build_dataset",
    "build_release",
    "episode_record",
    "filter_consented",
    "pseudonym",
    "purge_participant",
    "purge_pending",
    "reduce_events",
    "split_episodes",
]
