"""Benchmark: how long from `workprint pause` / `workprint consent withdraw keys` to the last key recorded.

Run: ``.venv/bin/python bench/pause_latency.py [--runs 10]``. On a private Xvfb, xdotool types continuously (one
key every 5 ms) into an xterm running ``cat`` while X11Capture feeds the privacy gate, which follows the state file
through ``StateWatcher`` exactly as the agent does. For each run the command is started as a real subprocess
(``workprint pause`` or ``workprint consent withdraw keys``); the latency is the time from starting the command to
the arrival of the last key event the gate admitted. Then the state is restored (resume / grant) and typing goes
on. Prints median, p90 and max per command as JSON and exits 1 if any run reaches the 1 s bound minus a margin
(``--bound 0.8`` by default), so it can gate CI without being a flaky unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.models import Event, KeyEvent
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import PrivacyGate
from workprint.privacy.state import record_consent
from workprint.privacy.watcher import StateWatcher

WORKPRINT = str(Path(sys.executable).parent / "workprint")


class Recorder:
    """The gate inside the capture callback; remembers when the last admitted key arrived."""

    def __init__(self, watcher: StateWatcher) -> None:
        self.gate = PrivacyGate(
            consented=watcher.consented, paused=watcher.paused, steps=[ExclusionStep(watcher.rules)]
        )
        self.last_key = 0.0
        self.keys = 0
        self.lock = threading.Lock()

    def __call__(self, event: Event, data: bytes | None) -> None:
        for e, _ in self.gate.admit(event, data):
            if isinstance(e, KeyEvent):
                with self.lock:
                    self.last_key = time.monotonic()
                    self.keys += 1


def one_run(rec: Recorder, env: dict[str, str], stop_cmd: list[str], restore_cmd: list[str]) -> tuple[float, float]:
    """(command start → last admitted key, command exit → last admitted key), in seconds."""
    before = rec.keys
    deadline = time.monotonic() + 5
    while rec.keys < before + 20:  # typing is flowing through the gate
        if time.monotonic() > deadline:
            raise SystemExit("no keys are being recorded: is the typist running?")
        time.sleep(0.01)
    t0 = time.monotonic()
    subprocess.run(stop_cmd, env=env, check=True, capture_output=True)
    t1 = time.monotonic()
    time.sleep(1.5)  # long enough for any late key to show up
    with rec.lock:
        last = rec.last_key
    subprocess.run(restore_cmd, env=env, check=True, capture_output=True)
    return last - t0, last - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--bound", type=float, default=0.8, help="fail if any latency reaches this many seconds")
    args = ap.parse_args()
    with TemporaryDirectory() as tmp, VirtualDisplay(1024, 700) as vd:
        home = Path(tmp)
        record_consent(home, "grant", ("keys", "mouse", "window_titles", "app_names"), time.time_ns())
        env = dict(os.environ, WORKPRINT_HOME=str(home))
        xterm = subprocess.Popen(["xterm", "-T", "typist", "-e", "cat"], env=vd.env)
        subprocess.run(
            ["xdotool", "search", "--sync", "--name", "^typist$"],
            env=vd.env,
            check=True,
            timeout=15,
            capture_output=True,
        )
        watcher = StateWatcher(home).start()
        rec = Recorder(watcher)
        cap = X11Capture(vd.display, rec, AgentSettings(home=home, frame_format="jpeg"))
        cap.start()
        typist = subprocess.Popen(
            ["xdotool", "search", "--name", "^typist$", "windowactivate", "--sync", "type", "--delay", "5",
             "abcdefghij" * 5000],
            env=vd.env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        results: dict[str, list[tuple[float, float]]] = {"pause": [], "withdraw": []}
        try:
            for _ in range(args.runs):
                results["pause"].append(one_run(rec, env, [WORKPRINT, "pause"], [WORKPRINT, "resume"]))
                results["withdraw"].append(
                    one_run(
                        rec, env, [WORKPRINT, "consent", "withdraw", "keys"], [WORKPRINT, "consent", "grant", "keys"]
                    )
                )
        finally:
            typist.kill()
            cap.stop()
            watcher.stop()
            xterm.terminate()
    report = {}
    for name, pairs in results.items():
        for i, label in ((0, "from_command_start"), (1, "after_command_exit")):
            xs = sorted(p[i] for p in pairs)
            report[f"{name}_{label}"] = {
                "runs": len(xs),
                "median_s": round(statistics.median(xs), 3),
                "p90_s": round(xs[int(0.9 * (len(xs) - 1))], 3),
                "max_s": round(xs[-1], 3),
            }
    print(json.dumps({"bound_s": args.bound, "watcher_interval_s": 0.05, **report}, indent=2))
    if any(r["max_s"] >= args.bound for r in report.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
