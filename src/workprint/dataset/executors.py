"""Executors: run one transform over many tasks, in this process or on Ray Data, with the same code.

``run_tasks(fn, tasks, ctx, executor)`` calls ``fn(task, ctx)`` for every task and returns the results ordered by
``result["index"]``. ``local`` runs them in order with a rich progress bar; ``ray`` makes one Ray Data block per
task (tasks and context travel pickled) so the cluster's workers share them, and Ray Data shows its own progress.
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
BLOCKS_PER_CPU = 16
"""Blocks per CPU on Ray: the last block runs while other workers idle, so small blocks keep the tail short; each
costs a Ray task (a few ms), negligible beside a session's or a shard's work."""


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not show, transient=True,
    )  # fmt: skip


def _ray_block(batch: dict[str, Any], fn: Fn, ctx: bytes) -> dict[str, list[bytes]]:
    # One call per block: the context is unpickled once for all of the block's tasks.
    context = pickle.loads(ctx)
    return {"result": [pickle.dumps(fn(pickle.loads(t), context)) for t in batch["task"]]}


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
    fn: Fn, tasks: Sequence[Any], ctx: Any, executor: Executor = "local", *, label: str = "", progress: bool = False
) -> list[dict[str, Any]]:
    """``fn(task, ctx)`` for every task; results sorted by their ``index``."""
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
        ray.data.DataContext.get_current().enable_progress_bars = progress
        rows = [{"task": pickle.dumps(t)} for t in tasks]
        cpus = int(ray.cluster_resources().get("CPU", 2))  # type: ignore[no-untyped-call]
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), BLOCKS_PER_CPU * cpus))
        # cloudpickle: the context may hold functions and classes defined in a script (a consent check, a source).
        udf = partial(_ray_block, fn=fn, ctx=cloudpickle.dumps(ctx))  # type: ignore[no-untyped-call]
        out = ds.map_batches(udf, batch_size=None, batch_format="numpy", zero_copy_batch=True).take_all()
        results = [pickle.loads(r["result"]) for r in out]
    else:
        raise ConfigError(f"executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    return sorted(results, key=lambda r: int(r["index"]))


__all__ = ["EXECUTORS", "Executor", "ensure_ray", "run_tasks"]
