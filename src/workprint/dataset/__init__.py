"""The dataset pipeline: raw events -> AgentNet actions -> episodes -> release files.

- ``actions``: the ``Action`` record and its PyAutoGUI code (``Action.to_pyautogui()``).
- ``reduce``: ``reduce_events(events) -> list[Action]``, the pure reduction of one session.
- ``agentnet``: episode splitting and the AgentNet-style JSONL writer.
- ``build``: ``build_dataset(segments, out_dir) -> BuildReport``, streaming per (participant, session).
"""

from workprint.dataset.actions import ACTION_KINDS, Action, ActionKind
from workprint.dataset.agentnet import AgentNetWriter, episode_record, split_episodes
from workprint.dataset.build import BuildOptions, BuildReport, build_dataset, pseudonym
from workprint.dataset.reduce import ReduceOptions, reduce_events

__all__ = [
    "ACTION_KINDS",
    "Action",
    "ActionKind",
    "AgentNetWriter",
    "BuildOptions",
    "BuildReport",
    "ReduceOptions",
    "build_dataset",
    "episode_record",
    "pseudonym",
    "reduce_events",
    "split_episodes",
]
