"""Benchmark: how long from a pause or a withdrawal to the last key the agent recorded.

Run: ``.venv/bin/python bench/pause_latency.py [--runs 10] [--bound 0.8]``. A real collection server runs in a thread;
the real ``Agent`` (capture → privacy gate → spool → uploader, indicator on screen) records a private Xvfb while
xdotool types continuously (one key every 5 ms, short lines: the redactor releases a field at Enter) into an
xterm running ``cat``. Each run stops recording one way:

- ``inprocess``: the state file is written directly through ``privacy.state`` (what the indicator's click does);
- ``cli``: ``workprint pause`` or ``workprint consent withdraw keys`` runs as a real subprocess;

and the latency is from the moment the command starts to the last key event appended to the spool, measured by the
key's own time (the X server's timestamp): a key typed later than that was never recorded. How late that key
reached the spool (its arrival) is printed too. Then the state is restored (resume / grant) and typing goes on.
Prints median and max per mode as JSON and exits 1 if any run reaches the 1 s bound minus a margin (``--bound``),
so it can gate CI without being a flaky unit test.
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
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

from workprint.agent import Agent
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings, ServerSettings
from workprint.device import DeviceRecord
from workprint.models import Event, KeyEvent
from workprint.privacy.state import record_consent, update_state
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import enroll

WORKPRINT = str(Path(sys.executable).parent / "workprint")
SCOPES = ("keys", "mouse", "window_titles", "app_names")


class TimedAgent(Agent):
    """The agent, noting the time of the last key it wrote to the spool (event time and arrival time)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.last_key_t_ns = 0
        self.last_key_arrival_ns = 0
        self.keys = 0
        self.lock = threading.Lock()

    def _write(self, items: list[tuple[Event, bytes | None]]) -> None:
        super()._write(items)
        keys = [e for e, _ in items if isinstance(e, KeyEvent)]
        if keys:
            with self.lock:
                self.last_key_t_ns = max(self.last_key_t_ns, max(k.t_ns for k in keys))
                self.last_key_arrival_ns = time.monotonic_ns()
                self.keys += len(keys)


def one_run(agent: TimedAgent, stop: Callable[[], None], restore: Callable[[], None]) -> tuple[float, float]:
    """(command start → last recorded key's time, command start → its arrival in the spool), in seconds."""
    before = agent.keys
    deadline = time.monotonic() + 10
    while agent.keys < before + 20:  # typing is flowing into the spool
        if time.monotonic() > deadline:
            raise SystemExit("no keys are being recorded: is the typist running?")
        time.sleep(0.01)
    t0 = time.monotonic_ns()
    stop()
    time.sleep(1.5)  # long enough for any late key to show up
    with agent.lock:
        by_time, arrival = agent.last_key_t_ns, agent.last_key_arrival_ns
    restore()
    return (by_time - t0) / 1e9, (arrival - t0) / 1e9


def _cli(env: dict[str, str], *args: str) -> Callable[[], None]:
    return lambda: subprocess.run([WORKPRINT, *args], env=env, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--bound", type=float, default=0.8, help="fail if any latency reaches this many seconds")
    args = ap.parse_args()
    with TemporaryDirectory() as tmp, VirtualDisplay(1024, 700) as vd:
        api = build_api(ServerSettings(home=Path(tmp) / "server"))
        server, thread, url = serve_in_thread(api)
        pid = api.create_participant("bench")
        e = enroll(url, api.create_enrolment_code(pid), "bench")
        home = Path(tmp) / "device"
        device = DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version)
        device.save(home / "device.json")
        record_consent(home, "grant", SCOPES, time.time_ns())
        env = dict(os.environ, WORKPRINT_HOME=str(home))
        env.pop("DISPLAY", None)
        xterm = subprocess.Popen(["xterm", "-T", "typist", "-e", "cat"], env=vd.env)
        subprocess.run(["xdotool", "search", "--sync", "--name", "^typist$"], env=vd.env, check=True, timeout=15,
                       capture_output=True)  # fmt: skip
        agent = TimedAgent(AgentSettings(home=home, frame_format="jpeg", idle_pause_min=0), device, display=vd.display)
        agent.start()
        typist = subprocess.Popen(
            ["bash", "-c", "xdotool search --name '^typist$' windowactivate --sync; "
             "while true; do xdotool type --delay 5 'abcd efgh'; xdotool key Return; done"],
            env=vd.env, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        ways: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "pause_inprocess": (
                lambda: update_state(home, lambda s: s.paused_for(time.time_ns(), None)),
                lambda: update_state(home, lambda s: s.resumed()),
            ),
            "withdraw_inprocess": (
                lambda: record_consent(home, "withdraw", ("keys",), time.time_ns()),
                lambda: record_consent(home, "grant", ("keys",), time.time_ns()),
            ),
            "pause_cli": (_cli(env, "pause"), _cli(env, "resume")),
            "withdraw_cli": (_cli(env, "consent", "withdraw", "keys"), _cli(env, "consent", "grant", "keys")),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        try:
            for _ in range(args.runs):
                for name, (stop, restore) in ways.items():
                    results[name].append(one_run(agent, stop, restore))
        finally:
            os.killpg(typist.pid, 9)
            typist.wait()
            agent.stop(upload=False)
            xterm.terminate()
            stop_server(server, thread)
    report: dict[str, dict[str, float]] = {}
    for name, pairs in results.items():
        by_time = sorted(p[0] for p in pairs)
        arrival = sorted(p[1] for p in pairs)
        report[name] = {
            "runs": len(pairs),
            "median_s": round(statistics.median(by_time), 3),
            "max_s": round(by_time[-1], 3),
            "arrival_median_s": round(statistics.median(arrival), 3),
            "arrival_max_s": round(arrival[-1], 3),
        }
    print(json.dumps({"bound_s": args.bound, "watcher_interval_s": 0.05, **report}, indent=2))
    if any(r["max_s"] >= args.bound for r in report.values()):
        print(f"FAIL: a latency reached the {args.bound} s bound", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
