"""Benchmark X11Capture: CPU (% of one core) and peak RSS of a capture process on a private 1280x800 Xvfb.

Run: ``.venv/bin/python bench/capture.py [--runs 3] [--seconds 10]``. The capture runs in a child process (so its
CPU and memory are its own, read from /proc), feeding a sink that does what the real one does with each event:
serialise it (msgpack of ``to_record``) and keep a running byte count. Phases, each ``--seconds`` long:

* idle: nothing happens;
* typing: 20 keys/s (xdotool type --delay 50) with nothing on screen changing (focus on the desktop);
* typing-xterm: the same into an xterm that echoes every key (a new frame before every key);
* actions: 5 actions/s in an xterm running cat, alternating a typed key and a click, each changing the screen,
  once with WebP and once with JPEG frames.

With ``--agent`` the child runs the whole agent instead (privacy gate with exclusions and redaction, the indicator,
the encrypted spool and the uploader, against a collection server in the parent), as ``workprint record`` does.

Prints the median of ``--runs`` runs per phase. Targets: idle <= 0.5 %, typing <= 3 %, actions <= 25 %, RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def agent_child(display: str, fmt: str, home: str) -> None:
    """Run the whole agent until stdin closes; print capture stats as JSON."""
    from workprint.agent import Agent
    from workprint.config import AgentSettings
    from workprint.device import DeviceRecord

    settings = AgentSettings(home=Path(home), frame_format=fmt)
    agent = Agent(settings, DeviceRecord.load(settings.device_file), display=display)
    agent.start()
    print("ready", flush=True)
    sys.stdin.read()
    agent.stop()
    print(json.dumps({**agent.capture.stats, "admitted": agent.stats.admitted}), flush=True)


def enrolled_home(root: Path) -> tuple[str, object]:
    """A collection server in this process and an enrolled, consenting device home for the agent child."""
    from workprint.config import ServerSettings
    from workprint.device import DeviceRecord
    from workprint.models import ALL_SCOPES
    from workprint.privacy.state import record_consent
    from workprint.server.serve import build_api, serve_in_thread
    from workprint.transport import enroll

    api = build_api(ServerSettings(home=root / "server"))
    server, _thread, url = serve_in_thread(api)
    home = root / "device"
    e = enroll(url, api.create_enrolment_code(api.create_participant("bench")), "bench")
    DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version).save(
        home / "device.json"
    )
    record_consent(home, "grant", ALL_SCOPES, time.time_ns())
    return str(home), server


def child(display: str, fmt: str) -> None:
    """Run the capture until stdin closes; print stats as JSON."""
    import msgpack

    from workprint.capture.x11 import X11Capture
    from workprint.config import AgentSettings
    from workprint.models import Event, to_record

    totals = {"events": 0, "bytes": 0, "frames": 0}

    def sink(event: Event, data: bytes | None) -> None:
        totals["events"] += 1
        totals["bytes"] += len(msgpack.packb(to_record(event)))
        if data is not None:
            totals["frames"] += 1
            totals["bytes"] += len(data)

    cap = X11Capture(display, sink, AgentSettings(frame_format=fmt))
    cap.start()
    print("ready", flush=True)
    sys.stdin.read()
    cap.stop()
    print(json.dumps({**totals, **cap.stats}), flush=True)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def xdo(env: dict[str, str], *args: str) -> None:
    subprocess.run(["xdotool", *args], env=env, check=True, stderr=subprocess.DEVNULL)


def phase(pid: int, seconds: float, work: list[list[str]] | None, env: dict[str, str], rate: float = 0.0) -> float:
    """CPU % of one core used by ``pid`` while ``work`` commands run at ``rate`` per second for ``seconds``."""
    start_t, start_c = time.monotonic(), cpu_ticks(pid)
    end = start_t + seconds
    i = 0
    while time.monotonic() < end:
        if not work:
            time.sleep(min(0.5, end - time.monotonic()))
            continue
        xdo(env, *work[i % len(work)])
        i += 1
        time.sleep(max(0.0, start_t + i / rate - time.monotonic()))
    elapsed = time.monotonic() - start_t
    return 100.0 * (cpu_ticks(pid) - start_c) / TICK / elapsed


def one_run(seconds: float, fmt: str, with_idle: bool, agent_home: str = "") -> dict[str, float]:
    from workprint.capture.xvfb import VirtualDisplay

    results: dict[str, float] = {}
    with VirtualDisplay(1280, 800) as vd:
        env = vd.env
        term = subprocess.Popen(
            ["xterm", "-T", "bench", "-geometry", "120x40+0+0", "-e", "cat"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wid = subprocess.run(
            ["xdotool", "search", "--sync", "--name", "bench"], env=env, capture_output=True, text=True
        ).stdout.split()[0]
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", vd.display, "--format", fmt]
            + (["--agent-home", agent_home] if agent_home else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # let start-up work (imports, first grab) settle out of the measurement
        if with_idle:
            results["idle"] = phase(proc.pid, seconds, None, env)
            # Typing with nothing changing on screen: click the bare desktop so no window has focus.
            xdo(env, "mousemove", "1200", "780", "click", "1")
            time.sleep(0.3)
            start_t, start_c = time.monotonic(), cpu_ticks(proc.pid)
            xdo(env, "type", "--delay", "50", "abcdefghij klmnopqrst" * int(seconds * 20 / 21 + 1))
            results["typing"] = 100.0 * (cpu_ticks(proc.pid) - start_c) / TICK / (time.monotonic() - start_t)
            xdo(env, "windowactivate", "--sync", wid)
            time.sleep(0.3)
            start_t, start_c = time.monotonic(), cpu_ticks(proc.pid)
            xdo(env, "type", "--delay", "50", "abcdefghij klmnopqrst" * int(seconds * 20 / 21 + 1))
            results["typing-xterm"] = 100.0 * (cpu_ticks(proc.pid) - start_c) / TICK / (time.monotonic() - start_t)
        xdo(env, "windowactivate", "--sync", wid)
        xdo(env, "mousemove", "300", "300")
        # Clicks alternate between two spots so the xterm's selection/cursor redraws the screen each time.
        work = [
            ["type", "x"],
            ["mousemove", "200", "200", "click", "1"],
            ["type", "y"],
            ["mousemove", "400", "300", "click", "1"],
        ]
        results[f"actions-{fmt}"] = phase(proc.pid, seconds, work, env, rate=5.0)
        results[f"rss-{fmt}"] = peak_rss_mb(proc.pid)
        proc.stdin.close()
        stats = json.loads(proc.stdout.readline())
        proc.wait()
        term.terminate()
        term.wait()
    results[f"frames-{fmt}"] = stats["frames"]
    results[f"grabs-{fmt}"] = stats["grabs"]
    return results


def encode_costs() -> dict[str, tuple[float, int]]:
    """Time (ms) and size (bytes) to encode one 1280x800 grab of an xterm desktop, per format."""
    from workprint.capture.frames import encode_bgra, open_mss
    from workprint.capture.xvfb import VirtualDisplay

    with VirtualDisplay(1280, 800) as vd:
        term = subprocess.Popen(["xterm", "-geometry", "120x40+0+0", "-e", "ls -la /usr/bin; cat"], env=vd.env)
        time.sleep(1.0)
        with open_mss(vd.display) as sct:
            shot = sct.grab(sct.monitors[0])
        term.terminate()
        term.wait()
    out = {}
    for fmt in ("webp", "jpeg"):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            data = encode_bgra(shot.raw, shot.width, shot.height, fmt, 80)
            times.append((time.perf_counter() - t) * 1000)
        out[fmt] = (statistics.median(times), len(data))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", metavar="DISPLAY")
    parser.add_argument("--format", default="webp")
    parser.add_argument("--agent", action="store_true", help="measure the whole agent, not capture alone")
    parser.add_argument("--agent-home", default="")
    args = parser.parse_args()
    if args.child:
        if args.agent_home:
            agent_child(args.child, args.format, args.agent_home)
        else:
            child(args.child, args.format)
        return
    for fmt, (ms, size) in encode_costs().items():
        print(f"encode {fmt:5s} one 1280x800 xterm desktop: {ms:6.1f} ms, {size / 1024:6.1f} KiB")
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        home = ""
        if args.agent:
            import tempfile

            home, _server = enrolled_home(Path(tempfile.mkdtemp(prefix=f"wp-bench-{i}-")))
        r = one_run(args.seconds, "webp", with_idle=True, agent_home=home)
        if args.agent:
            home, _server = enrolled_home(Path(tempfile.mkdtemp(prefix=f"wp-bench-{i}-jpeg-")))
        r.update(one_run(args.seconds, "jpeg", with_idle=False, agent_home=home))
        runs.append(r)
        print("run:", {k: round(v, 2) for k, v in r.items()}, flush=True)
    print(f"median of {args.runs} runs, {args.seconds:.0f} s per phase (CPU % of one core):")
    for key in runs[0]:
        print(f"  {key:14s} {statistics.median(r[key] for r in runs):8.2f}")


if __name__ == "__main__":
    main()
