"""Soak: the server at 70 % of its measured capacity for N minutes; is its memory flat?

    .venv/bin/python bench/soak.py                 # 10 minutes, SQLite, 200 agents
    .venv/bin/python bench/soak.py --minutes 2     # shorter

First a short flat-out run (``--probe-seconds``) measures capacity in segments/s (or give ``--capacity``); then the
same server takes ``--load`` (default 0.7) of that, paced, from ``--agents`` simulated agents, while its RSS is sampled
every 10 s. After a warm-up (the first ``--warmup-s`` seconds: caches, connection pools) every sample must stay
within ±10 % of the first one; the verdict is printed as ``flat`` or ``not flat``, with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from load import add_common, bench_server, check, makers_for, run_agents


def verdict(
    samples: list[tuple[float, int]], warmup_s: float, tolerance: float = 0.10
) -> tuple[bool, dict[str, float]]:
    """Whether every RSS sample after ``warmup_s`` is within ``tolerance`` of the first one after it."""
    after = [r for t, r in samples if t >= warmup_s]
    if len(after) < 2:
        raise SystemExit("soak: too few samples after the warm-up; run longer")
    base = after[0]
    spread = (max(after) - base) / base, (min(after) - base) / base
    figures = {
        "baseline_MiB": round(base / 2**20, 1),
        "max_MiB": round(max(after) / 2**20, 1),
        "min_MiB": round(min(after) / 2**20, 1),
        "last_MiB": round(after[-1] / 2**20, 1),
        "median_MiB": round(statistics.median(after) / 2**20, 1),
        "max_change_pct": round(100 * max(abs(spread[0]), abs(spread[1])), 1),
    }
    return abs(spread[0]) <= tolerance and abs(spread[1]) <= tolerance, figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common(p)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--load", type=float, default=0.7, help="fraction of the measured capacity")
    p.add_argument("--capacity", type=float, default=0.0, help="segments/s; 0: measure it first")
    p.add_argument("--probe-seconds", type=float, default=15.0)
    p.add_argument("--warmup-s", type=float, default=60.0)
    args = p.parse_args()
    args.seconds = args.minutes * 60
    check(args)
    if not 0 < args.load <= 1:
        raise SystemExit(f"--load: expected 0 < fraction <= 1, got {args.load}")
    with bench_server(args.db, args.agents) as (url, proc, agents):
        makers = makers_for(agents, args)
        tokens = [a.token for a in agents]
        capacity = args.capacity
        if capacity <= 0:
            probe = asyncio.run(run_agents(url, makers, tokens, args.probe_seconds, server_pid=proc.pid))
            capacity = probe.accepted_segments / probe.seconds
            print(f"capacity: {capacity:.1f} segments/s ({probe.summary()})", flush=True)
        rate = capacity * args.load

        def show(t: float, rss: int) -> None:
            print(f"t={t:6.0f} s  server RSS {rss / 2**20:7.1f} MiB", flush=True)

        result = asyncio.run(
            run_agents(url, makers, tokens, args.seconds, rate=rate, server_pid=proc.pid, rss_every_s=10, on_rss=show)
        )
    flat, figures = verdict(result.rss, min(args.warmup_s, args.seconds / 3))
    out = {"db": args.db, "agents": args.agents, "minutes": args.minutes, "target_segments_per_s": round(rate, 1),
           **result.summary(), "rss": figures, "verdict": "flat" if flat else "not flat"}  # fmt: skip
    print(json.dumps(out))
    print(
        f"server RSS over the soak: {'flat' if flat else 'not flat'} (±10 %; max change {figures['max_change_pct']} %)"
    )


if __name__ == "__main__":
    main()
