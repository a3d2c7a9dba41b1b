"""Executors: run one transform over many tasks, in this process or on Ray Data, with the same code.

``run_tasks(fn, tasks, ctx, executor)`` calls ``fn(task, ctx)`` for every task and returns the results ordered by
``result["index"]``. ``local`` runs them in order with a rich progress bar; ``ray`` packs the tasks into a few
Ray Data blocks of equal estimated work (``weight``), two per CPU, which the cluster's workers share (tasks, context
and results travel pickled; the results are the transforms' small summaries), and Ray Data shows its own progress.
Each block costs Ray Data about 0.1 s of dispatch on a busy 2-core machine, and the last block to finish leaves the
other workers idle: two equal blocks per CPU keep both small.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from workprint.errors import ConfigError

Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "ray")
T = TypeVar("T")
C = TypeVar("C")
Fn = Callable[[Any, Any], dict[str, Any]]
BLOCKS_PER_CPU = 2
Weight = Callable[[Any], float]


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not show, transient=True,
    )  # fmt: skip


def balanced_groups(weights: Sequence[float], n: int) -> list[list[int]]:
    """Task indices split into at most ``n`` groups of near-equal total weight (heaviest first, each into the
    lightest group), each group in index order."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(n, len(weights))))]
    totals = [0.0] * len(groups)
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        g = totals.index(min(totals))
        groups[g].append(i)
        totals[g] += weights[i]
    return [sorted(g) for g in groups if g]


def _ray_block(batch: dict[str, Any], fn: Fn, ctx: bytes) -> dict[str, list[bytes]]:
    import pyarrow as pa

    # A Ray task holds one CPU: Arrow's pool sized to the machine makes every worker's Parquet threads contend for
    # the same cores (a shard then took 1.5x the CPU it takes in the local executor, pinned to one core).
    pa.set_cpu_count(1)
    # One call per block: the context is unpickled once for all of the block's tasks.
    context = pickle.loads(ctx)
    return {"results": [pickle.dumps([fn(t, context) for t in pickle.loads(ts)]) for ts in batch["tasks"]]}


def ensure_ray(num_cpus: int | None = None) -> None:
    """Start a local Ray (or join the one ``RAY_ADDRESS`` names) once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray starts workers at niceness 15; a build's workers are the job, not background noise beside it.
    os.environ.setdefault("RAY_worker_niceness", "0")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)


def run_tasks(
    fn: Fn, tasks: Sequence[Any], ctx: Any, executor: Executor = "local", *, label: str = "", progress: bool = False,
    weight: Weight | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """``fn(task, ctx)`` for every task; results sorted by their ``index``. ``weight(task)`` estimates a task's work
    (default: all equal) so that Ray's blocks come out even."""
    if not tasks:
        return []
    if executor == "local":
        results = []
        with _progress(progress) as bar:
            job = bar.add_task(label or "tasks", total=len(tasks))
            for task in tasks:
                results.append(fn(task, ctx))
                bar.advance(job)
    elif executor == "ray":
        import ray.data
        from ray import cloudpickle

        ensure_ray()
        data_ctx = ray.data.DataContext.get_current()
        data_ctx.enable_progress_bars = progress
        # Reservations split resources between a pipeline's operators; with one map they only hold the second task
        # back until the next resource refresh (about 1 s, a worker idle at the start of each phase).
        data_ctx.op_resource_reservation_enabled = False
        cpus = int(ray.cluster_resources().get("CPU", 2))  # type: ignore[no-untyped-call]
        groups = balanced_groups([weight(t) if weight else 1.0 for t in tasks], BLOCKS_PER_CPU * cpus)
        rows = [{"tasks": pickle.dumps([tasks[i] for i in g])} for g in groups]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        # cloudpickle: the context may hold functions and classes defined in a script (a consent check, a source).
        udf = partial(_ray_block, fn=fn, ctx=cloudpickle.dumps(ctx))  # type: ignore[no-untyped-call]
        out = ds.map_batches(udf, batch_size=None, batch_format="numpy", zero_copy_batch=True).take_all()
        results = [r for row in out for r in pickle.loads(row["results"])]
    else:
        raise ConfigError(f"executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    return sorted(results, key=lambda r: int(r["index"]))


__all__ = ["EXECUTORS", "Executor", "balanced_groups", "ensure_ray", "run_tasks"]
