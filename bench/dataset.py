"""Benchmark the release build: raw events/s and actions/s on one core, peak RSS, and Ray Data with 2 workers.

Run: ``.venv/bin/python bench/dataset.py [--events 1000000] [--session-events 5000] [--small 250000]``.

A synthetic corpus (typing runs, clicks, scrolls, motion, window switches and markers, with a small real WebP
frame before every action) is generated once and sealed to per-participant keys as ``.wps`` files, as the server
holds them; generation is not timed. Each measured build runs in a child process reading those files (decrypt,
decode, consent filter, reduce, episodes, k-anonymity, Parquet + WebDataset + JSONL), so its peak RSS is its own:

* local on one core (``sched_setaffinity``), at ``--small`` events and at ``--events``: RSS must not grow with size;
* Ray Data with ``num_cpus=2`` at ``--events``, against the local build.

Targets: >= 20,000 events/s per core, peak RSS <= 1 GB independent of corpus size, >= 1.7x with 2 Ray workers.
Needs ``ray[data]`` for the Ray run.

Measured 2026-11-27 (2-core VM shared with other sessions' test runs and benchmarks; ~1.0 M events, 52,353 steps
with frames, 6,467 episodes; five runs of this script, load average at each run's start):

==========================  ==============  ============  =========  ===========================================
run                         events/s        actions/s     peak RSS   machine load average
==========================  ==============  ============  =========  ===========================================
local, 1 core, 250 k        21,089-42,804   1,129-2,292   198 MB     1.19-2.68
local, 1 core, 1 M          41,690 median   2,226         203 MB     1.19-2.68 (range 27,867-47,862 events/s)
ray, 2 workers, 1 M         73,552          3,927         251 MB     1.43, quiet while it ran: 1.76x over local
ray, 2 workers, 1 M         55,063-55,268   2,940-2,951   252 MB     1.1-1.7, nothing else running: 1.61x, 1.88x
ray, 2 workers, 1 M         39,768-45,353   2,123-2,421   252 MB     1.19-2.68 at start, 3.7-4+ during: 0.95x-1.43x
==========================  ==============  ============  =========  ===========================================

Median of the five runs: local 24.0 s, ray 22.7 s, 1.16x. Only the run with the machine quiet throughout shows what
the code does (1.76x: sessions 18.1 s -> 9.8 s, shards 5.9 s -> 3.7 s); in the others another session's load test
or test suite took a core mid-run (Ray warm-up 14-18 s instead of 11 s), which costs two workers that need both
cores far more than a local run pinned to one, and the ratio falls to 0.95-1.43x.
Two later runs with nothing else on the machine gave 1.88x and 1.61x: over the three quiet runs the median is 1.76x.

Where the time goes (``ReleaseReport.seconds``, printed per step): locally 70-80 % in phase 1 (decrypt, decode,
consent filter, reduce, stage; decoding segments is half of it), 20-30 % in phase 2 (shards); the driver's decisions
and final files take < 0.1 s, so serial work does not bound the speed-up. On Ray three costs were removed: Ray Data's
operator resource reservation held the second worker back ~1.1 s at the start of each phase; each worker's Arrow
pool was sized to the machine, so their Parquet threads contended (phase 2 took 1.5x the CPU of the local run); and
each Ray Data block costs ~0.1 s of dispatch, so tasks are packed into two weight-balanced blocks per CPU. ``tarfile``
was half of phase 2; headers are now written directly (byte-identical), about halving phase 2's CPU in both executors.
What remains on Ray: its own processes (the driver's streaming executor, the stats and autoscaling actors, raylet,
GCS, log monitor) take ~2.4 CPU-seconds per build on the same two cores, and 25 shards split 13/12. RSS does not
grow with the corpus (one session and one shard in memory). Ray start and worker warm-up (11-18 s) is excluded.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workprint.dataset.source import SegmentRef
from workprint.models import (
    ALL_SCOPES,
    ButtonEvent,
    ControlEvent,
    Event,
    FrameEvent,
    KeyEvent,
    MotionEvent,
    ScrollEvent,
    WindowEvent,
)
from workprint.segment import Segment, SegmentHeader, count_kinds, generate_keypair, open_sealed, seal

MS = 1_000_000
LOAD0 = ""
WORDS = ["report", "budget", "meeting", "hello", "deploy", "invoice", "notes", "summary", "review", "draft"]
APPS = [("firefox", "Inbox - Mail"), ("gedit", "notes.txt"), ("xterm", "~/src"), ("libreoffice", "budget.ods")]


class SealedDirSource:
    """Sealed segment files ``<dir>/<participant>/<session>/<seq>.wps`` and the participants' private keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        index = json.loads((root / "index.json").read_text())
        self.keys = {p: bytes.fromhex(k) for p, k in index["keys"].items()}
        self._refs = [SegmentRef(*r) for r in index["refs"]]

    def refs(self) -> list[SegmentRef]:
        return self._refs

    def open(self, ref: SegmentRef) -> Segment:
        data = (self.root / ref.participant / ref.session / f"{ref.seq:05d}.wps").read_bytes()
        return open_sealed(data, self.keys[ref.participant])


def _frames_pool() -> list[bytes]:
    from PIL import Image

    pool = []
    for i in range(64):
        out = io.BytesIO()
        Image.new("RGB", (64, 40), ((i * 37) % 256, (i * 91) % 256, 120)).save(out, format="WEBP", quality=50)
        pool.append(out.getvalue())
    return pool


class _Gen:
    """Appends realistic event runs with a frame before every action."""

    def __init__(self, rng: random.Random, pool: list[bytes]) -> None:
        self.rng, self.pool = rng, pool
        self.t = 1_000 * MS
        self.events: list[Event] = []
        self.frames: dict[str, bytes] = {}
        self.n = 0

    def _tick(self, ms: int = 40) -> int:
        self.t += ms * MS
        return self.t

    def _frame(self, t: int) -> None:
        self.n += 1
        fid = f"f{self.n:08d}"
        self.events.append(FrameEvent(t - MS // 2, 0, fid, 64, 40, "webp", "0" * 64, t))
        self.frames[fid] = self.pool[self.rng.randrange(len(self.pool))]

    def window(self) -> None:
        app, title = APPS[self.rng.randrange(len(APPS))]
        self.events.append(WindowEvent(self._tick(), 0, app, title, 1, 0, 0, 1200, 760, 1280, 800))

    def type_word(self) -> None:
        word = WORDS[self.rng.randrange(len(WORDS))] + " "
        for i, ch in enumerate(word):
            t = self._tick(60)
            self._frame(t)
            sym = "space" if ch == " " else ch
            self.events.append(KeyEvent(t, 0, True, 10 + i, sym, ch))
            self.events.append(KeyEvent(self._tick(30), 0, False, 10 + i, sym, ""))

    def click(self) -> None:
        x, y = self.rng.randrange(1280), self.rng.randrange(800)
        path = tuple((self._tick(10), x - 5 + k, y) for k in range(5))
        self.events.append(MotionEvent(path[0][0], 0, path))
        t = self._tick()
        self._frame(t)
        self.events.append(ButtonEvent(t, 0, True, x, y, 1))
        self.events.append(ButtonEvent(self._tick(80), 0, False, x, y, 1))

    def scroll(self) -> None:
        for _ in range(3):
            t = self._tick(50)
            self._frame(t)
            self.events.append(ScrollEvent(t, 0, 640, 400, 0, -1))

    def marker(self) -> None:
        self.events.append(ControlEvent(self._tick(), 0, "marker"))


def generate(root: Path, total: int, per_session: int, participants: int = 8, seg_events: int = 1000) -> None:
    """Seal a corpus of about ``total`` events into ``root``."""
    rng = random.Random(7)
    pool = _frames_pool()
    keys: dict[str, tuple[bytes, bytes]] = {f"p{i}": generate_keypair() for i in range(participants)}
    refs: list[list[Any]] = []
    made = 0
    s = 0
    while made < total:
        participant = f"p{s % participants}"
        session = f"s{s:05d}"
        g = _Gen(rng, pool)
        g.window()
        while len(g.events) < per_session:
            r = rng.random()
            g.type_word() if r < 0.5 else g.click() if r < 0.8 else g.scroll() if r < 0.93 else g.window()
            if rng.random() < 0.05:
                g.marker()
        d = root / participant / session
        d.mkdir(parents=True, exist_ok=True)
        for seq, i in enumerate(range(0, len(g.events), seg_events)):
            part = g.events[i : i + seg_events]
            ids = {e.frame_id for e in part if isinstance(e, FrameEvent)}
            times = [e.t_ns for e in part]
            h = SegmentHeader(participant, "dev", session, seq, min(times), max(times), min(times), max(times),
                              ALL_SCOPES, "1", "bench", count_kinds(part))  # fmt: skip
            (d / f"{seq:05d}.wps").write_bytes(seal(h, part, {k: g.frames[k] for k in ids}, keys[participant][1]))
            refs.append([f"{session}-{seq}", participant, session, seq, "1", min(times), max(times)])
        made += len(g.events)
        s += 1
    refs.sort(key=lambda r: (r[1], r[2], r[3]))
    index = {"keys": {p: k[0].hex() for p, k in keys.items()}, "refs": refs, "events": made}
    (root / "index.json").write_text(json.dumps(index))


def _warm(task: int, ctx: None) -> dict[str, Any]:
    import workprint.dataset.release  # noqa: F401 - the imports a real task pays once per worker

    return {"index": task}


def child(corpus: Path, out: Path, executor: str) -> None:
    """One measured build; prints JSON."""
    from workprint.dataset.executors import run_tasks
    from workprint.dataset.release import ReleaseOptions, build_release

    warm = 0.0
    if executor == "local":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    else:
        from workprint.dataset.executors import ensure_ray

        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        w0 = time.perf_counter()
        ensure_ray(num_cpus=2)
        # A warm cluster: workers started and their imports done, as on a cluster that builds releases daily.
        run_tasks(_warm, list(range(8)), None, "ray")
        warm = time.perf_counter() - w0
    source = SealedDirSource(corpus)
    t0 = time.perf_counter()
    report = build_release(source, out, "bench", options=ReleaseOptions(executor=executor), key=b"b" * 32)  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fields = ("events", "actions", "steps", "frames", "episodes")
    counts = {f: getattr(report, f) for f in fields}
    print(json.dumps({"warmup": warm, "seconds": dt, "rss": rss, "steps_s": report.seconds, **counts}))


def measure(corpus: Path, executor: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wp-bench-out-") as out:
        cmd = [sys.executable, __file__, "--child", str(corpus), "--out", out, "--executor", executor]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise SystemExit(f"child failed: {res.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=250_000)
    ap.add_argument("--session-events", type=int, default=5_000)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--out")
    ap.add_argument("--executor", default="local")
    a = ap.parse_args()
    if a.child:
        child(Path(a.child), Path(a.out), a.executor)
        return
    global LOAD0
    LOAD0 = " ".join(f"{x:.2f}" for x in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="wp-bench-corpus-"))
    try:
        rows = []
        for label, n in (("small", a.small), ("full", a.events)):
            t0 = time.perf_counter()
            generate(work / label, n, a.session_events)
            print(f"corpus {label}: {n:,} events generated and sealed in {time.perf_counter() - t0:.1f} s", flush=True)
            r = measure(work / label, "local")
            rows.append((f"local 1 core, {r['events']:,} events", r))
        if not a.no_ray:
            rows.append((f"ray 2 workers, {rows[-1][1]['events']:,} events", measure(work / "full", "ray")))
        print(f"{'run':<34} {'events/s':>10} {'actions/s':>10} {'seconds':>8} {'peak RSS':>10} {'steps':>8}")
        for label, r in rows:
            print(f"{label:<34} {r['events'] / r['seconds']:>10,.0f} {r['actions'] / r['seconds']:>10,.0f} "
                  f"{r['seconds']:>8.1f} {r['rss'] / 2**20:>8.0f} MB {r['steps']:>8,}")  # fmt: skip
        for label, r in rows[1:]:
            print(f"{label.split(',')[0]:<14} " + ", ".join(f"{k} {v:.1f} s" for k, v in r["steps_s"].items()))
        if not a.no_ray:
            ray_run = rows[2][1]
            print(f"ray speed-up with 2 workers: {rows[1][1]['seconds'] / ray_run['seconds']:.2f}x "
                  f"(ray start and worker warm-up {ray_run['warmup']:.1f} s, not counted)")  # fmt: skip
        after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"cores: {os.cpu_count()}, load average before: {LOAD0}, after: {after}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
