"""How the Ray executor packs tasks into blocks (every task once, in near-equal groups), and the step timings a
build reports."""

from __future__ import annotations

import random
import time
from pathlib import Path

from release_helpers import corpus

from workprint.dataset.executors import balanced_groups, run_tasks
from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import MemorySource


def test_balanced_groups_cover_every_task_once_in_index_order() -> None:
    rng = random.Random(5)
    for _ in range(200):
        weights = [rng.choice([1.0, 2.0, rng.uniform(0.1, 30)]) for _ in range(rng.randrange(1, 60))]
        n = rng.randrange(1, 12)
        groups = balanced_groups(weights, n)
        assert sorted(i for g in groups for i in g) == list(range(len(weights)))
        assert len(groups) == min(n, len(weights)) and all(g == sorted(g) for g in groups)
        totals = [sum(weights[i] for i in g) for g in groups]
        # Greedy heaviest-first: no group exceeds another by more than the heaviest single task.
        assert max(totals) - min(totals) <= max(weights) + 1e-9


def test_balanced_groups_of_equal_tasks_differ_by_at_most_one_task() -> None:
    sizes = sorted(len(g) for g in balanced_groups([1.0] * 25, 4))
    assert sizes == [6, 6, 6, 7]


def test_balanced_groups_split_uneven_sessions_evenly() -> None:
    groups = balanced_groups([9.0, 1.0, 1.0, 1.0, 4.0, 4.0, 1.0, 1.0], 2)
    assert sorted(sum([9.0, 1.0, 1.0, 1.0, 4.0, 4.0, 1.0, 1.0][i] for i in g) for g in groups) == [11.0, 11.0]


def _square(task: int, ctx: int) -> dict[str, int]:
    return {"index": task, "value": task * task + ctx}


def test_local_results_come_back_in_index_order() -> None:
    assert [r["value"] for r in run_tasks(_square, [3, 1, 2, 0], 10, "local")] == [10, 11, 14, 19]


def test_a_build_reports_the_wall_time_of_each_step(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    report = build_release(MemorySource(corpus(3)), tmp_path, "rel", key=b"t" * 32, options=ReleaseOptions(k=1))
    total = time.perf_counter() - t0
    assert list(report.seconds) == ["sessions", "decide", "shards", "finish"]
    assert all(s >= 0 for s in report.seconds.values())
    assert report.seconds["sessions"] > 0 and report.seconds["shards"] > 0
    assert sum(report.seconds.values()) <= total
