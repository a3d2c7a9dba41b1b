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

Office workload: ``.venv/bin/python bench/capture.py --agent --workload office [--runs 3] [--work-seconds 60]
[--idle-seconds 20] [--seed 1] [--stop-cap 30]`` measures what a text-heavy desktop costs the agent, against a bare
floor in the same invocation. Each run starts, per recorder, a fresh 1280x800x24 Xvfb with openbox and two xterms
side by side full of text (the GPL; ``ls -la``), then: ``--idle-seconds`` idle; ``--work-seconds`` of seeded office
input through XTEST, the same for both recorders (typing ~4 characters/s in word bursts with typos fixed by
BackSpace, a click every ~3.3 s after a 60 Hz pointer path, double clicks, drags, 3-8 notch wheel bursts, Ctrl+L,
Alt+Tab every 15 s); ``--idle-seconds`` idle (the backlog); SIGINT, and SIGKILL of its process group if the recorder
has not exited after ``--stop-cap`` seconds. CPU is of the recorder's whole process tree (OCR processes included,
reaped ones through cutime/cstime). The floor is X RECORD plus a mss grab encoded as WebP (q80, method 0) on each
click and each key press that starts a typing run, keeping nothing. For the agent, what reached the collection server
by its exit is decrypted and counted (frames, key presses, the typed characters in order, placeholders standing for
redacted values), then what it left in its spool is recovered and uploaded as its next start would, and counted again.
Defaults take about 2 minutes per recorder and run (4-5 minutes per run of both). Quick check:
``--runs 1 --work-seconds 20 --idle-seconds 5``.

Office targets: agent CPU during work <= 2x the floor's; <= 0.5 % idle and in the idle after the work; peak RSS
<= 150 MB; stop <= 2 s; every typed character present (redacted or not).
Figures: see README
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from office import Script

TICK = os.sysconf("SC_CLK_TCK")


def agent_child(display: str, fmt: str, home: str) -> None:
    """Run the whole agent until SIGINT or SIGTERM (as ``workprint record`` until Ctrl-C) or stdin closes; print
    capture stats as JSON."""
    from office import wait_for_stop

    from workprint.agent import Agent
    from workprint.config import AgentSettings
    from workprint.device import DeviceRecord

    settings = AgentSettings(home=Path(home), frame_format=fmt)
    agent = Agent(settings, DeviceRecord.load(settings.device_file), display=display)
    agent.start()
    print("ready", flush=True)
    wait_for_stop()
    agent.stop()
    counters = {k: v for k, v in dataclasses.asdict(agent.stats).items() if isinstance(v, int)}  # as the agent has
    counters["redaction_frames_dropped"] = getattr(agent.redactor, "frames_dropped", -1)  # failed or timed out
    print(json.dumps({**agent.capture.stats, **counters}), flush=True)


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection server running in this process, and the enrolled device home an agent child records into."""

    home: str
    participant_id: str
    api: Any  # workprint.server.api.ServerAPI (imported lazily, as everything of workprint here)
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def close(self) -> None:
        from workprint.server.serve import stop_server

        stop_server(self.server, self.thread)


def enrolled_home(root: Path) -> Collection:
    """A collection server in this process and an enrolled, consenting device home for the agent child."""
    from workprint.config import ServerSettings
    from workprint.device import DeviceRecord
    from workprint.models import ALL_SCOPES
    from workprint.privacy.state import record_consent
    from workprint.server.serve import build_api, serve_in_thread
    from workprint.transport import enroll

    api = build_api(ServerSettings(home=root / "server"))
    server, thread, url = serve_in_thread(api)
    home = root / "device"
    e = enroll(url, api.create_enrolment_code(api.create_participant("bench")), "bench")
    DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version).save(
        home / "device.json"
    )
    record_consent(home, "grant", ALL_SCOPES, time.time_ns())
    return Collection(str(home), e.participant_id, api, server, thread)


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


# ----- the office workload (bench/office.py has the workload, the meter and the floor) ---------------------------
@dataclass(frozen=True, slots=True)
class Kept:
    """What of one participant's recording the server holds: segments, frames, key presses, control markers."""

    segments: int
    frames: int
    key_presses: int
    tokens: tuple[str | None, ...]  # each printable key press's character; None for a redaction placeholder
    controls: tuple[str, ...]


def kept_on_server(coll: Collection) -> Kept:
    """Decrypt every segment of the bench participant (audited as actor "bench") and count what it holds."""
    from workprint.models import ControlEvent, FrameEvent, KeyEvent

    segments = frames = presses = 0
    tokens: list[str | None] = []
    controls: list[str] = []
    for s in coll.api.iter_segments("bench", coll.participant_id):
        segments += 1
        for e in s.events:
            if isinstance(e, FrameEvent):
                frames += 1
            elif isinstance(e, ControlEvent):
                controls.append(e.kind)
            elif isinstance(e, KeyEvent) and e.press:
                presses += 1
                if e.keysym == "Redacted":
                    tokens.append(None)
                elif len(e.text) == 1 and e.text.isprintable():
                    tokens.append(e.text)
    return Kept(segments, frames, presses, tuple(tokens), tuple(controls))


def typed_present(typed: str, tokens: tuple[str | None, ...]) -> bool:
    """Whether the recorded printable presses are exactly ``typed``, each placeholder standing for 1+ characters."""
    pattern = "".join(".+?" if t is None else re.escape(t) for t in tokens)
    return re.fullmatch(pattern, typed, re.DOTALL) is not None


def spool_left(home: Path) -> int:
    """Journals and sealed segments the agent left in its spool (it seals and uploads everything on a clean stop)."""
    return len(list((home / "spool").glob("*.wpj"))) + len(list((home / "spool" / "sealed").glob("*.wps")))


def recover_and_upload(home: Path) -> str:
    """Do what the agent's next start does with a spool it left (seal the journals, upload); "" or the error."""
    from workprint.device import DeviceRecord
    from workprint.errors import WorkprintError
    from workprint.spool import Spool, SpoolIdentity
    from workprint.transport import HttpTransport, upload_pending

    d = DeviceRecord.load(home / "device.json")
    identity = SpoolIdentity(d.participant_id, d.device_id, "recovery", d.public_key_bytes, d.notice_version, "bench")
    try:
        Spool.open(home / "spool", identity).close()
        upload_pending(home / "spool", HttpTransport(d.server_url, d.device_token))
    except WorkprintError as exc:
        return str(exc)
    return ""


def office_measure(
    argv: list[str], display: str, script: Script, args: argparse.Namespace, log: IO[str]
) -> dict[str, Any]:
    """Start a recorder child, run the phases against it and stop it: CPU, memory and stop time of its tree."""
    import office

    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
    )
    meter = office.TreeMeter(proc.pid)
    r: dict[str, Any] = {}
    try:
        office.wait_ready(proc, timeout=60)
        meter.start()
        time.sleep(1.0)  # let start-up work (imports, first grab) settle out of the measurement
        for name in ("idle", "work", "after"):
            start_t, start_c = time.monotonic(), meter.ticks()
            if name == "work":
                r["late_s"] = office.play(display, script, start_t)
            seconds = args.work_seconds if name == "work" else args.idle_seconds
            r[name] = meter.cpu_percent(seconds, start_c, start_t)
        meter.sample()
        r["stop_s"] = office.interrupt(proc, args.stop_cap)
    finally:
        meter.stop()
        if proc.poll() is None:  # the run failed: leave no recorder behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        r["stats"] = office.last_json(proc.stdout.read())
    r |= {"hwm_mb": meter.peak_hwm_kb / 1024, "rss_mb": meter.peak_rss_kb / 1024, "pss_mb": meter.peak_pss_kb / 1024}
    return r


def office_run(kind: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """One recorder ("floor" or "agent") on a fresh office desktop; for the agent, what its recording kept."""
    import office

    coll = enrolled_home(root / kind) if kind == "agent" else None
    try:
        with office.office_desktop() as desk, open(root / f"{kind}.log", "w") as log:
            script = office.office_script(args.seed, args.work_seconds, desk.rects)
            argv = [sys.executable, __file__, "--child", desk.display]
            argv += ["--agent-home", coll.home, "--format", args.format] if coll else ["--floor"]
            r = office_measure(argv, desk.display, script, args, log)
        r |= {"script": script, "rects": desk.rects}
        if coll is not None:
            home = Path(coll.home)
            r["at_stop"] = r["kept"] = kept_on_server(coll)
            r["left"] = spool_left(home)
            if r["left"]:  # the agent was killed (or failed to upload): count what a later start would send
                r["recovery_error"] = recover_and_upload(home)
                r["kept"] = kept_on_server(coll)
    finally:
        if coll is not None:
            coll.close()
    return r


def _stop_text(s: float | None) -> str:
    return "killed" if s is None or s == float("inf") else f"{s:.1f} s"


def office_line(kind: str, r: dict[str, Any]) -> str:
    """One run of one recorder, on one line."""
    line = (
        f"{kind:5s} idle {r['idle']:5.2f} %  work {r['work']:6.2f} %  after {r['after']:6.2f} %  "
        f"HWM {r['hwm_mb']:5.1f} MB  tree RSS {r['rss_mb']:5.1f} MB  PSS {r['pss_mb']:5.1f} MB  "
        f"stop {_stop_text(r['stop_s'])}  input late by <= {r['late_s'] * 1000:.0f} ms  child stats {r['stats']}"
    )
    if kind == "agent":
        script, stop, kept = r["script"], r["at_stop"], r["kept"]
        typed = script.typed
        chars = sum(1 for t in kept.tokens if t is not None)
        line += (
            f"\n      frames: {r['stats'].get('frames', '?')} made by capture, {stop.frames} on the server at exit, "
            f"{kept.frames} after recovering the spool "
            f"({r['left']} spool files left{', recovery: ' + r['recovery_error'] if r.get('recovery_error') else ''});"
            f" segments {kept.segments}"
            f"\n      keys: {script.count('key')} pressed, {stop.key_presses} on the server at exit, "
            f"{kept.key_presses} after recovery; typed characters {len(typed)}, recorded {chars} + "
            f"{kept.tokens.count(None)} placeholders; all present in order: {typed_present(typed, kept.tokens)}"
            f"\n      controls: {dict(collections.Counter(kept.controls))}"
        )
    return line


def office_main(args: argparse.Namespace) -> None:
    """Run the office workload ``--runs`` times against the floor (and the agent with --agent); print medians."""
    import tempfile

    from workprint.config import AgentSettings

    args.format = args.format or AgentSettings().frame_format  # the agent as shipped
    kinds = ("floor", "agent") if args.agent else ("floor",)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix=f"wp-office-{i}-"))
        for kind in kinds if i % 2 == 0 else kinds[::-1]:  # alternate who goes first: drift hits both alike
            r = office_run(kind, args, root)
            runs[kind].append(r)
            print(f"run {i + 1}: {office_line(kind, r)}", flush=True)
            if r["rects"] != runs[kinds[0]][0]["rects"]:  # the script's points follow the xterms' places
                print(f"  warning: xterms at {r['rects']}, not {runs[kinds[0]][0]['rects']}: inputs differ", flush=True)
        print(f"  (logs and data of run {i + 1}: {root})", flush=True)
    print(
        f"median of {args.runs} runs; idle {args.idle_seconds:.0f} s, work {args.work_seconds:.0f} s, after "
        f"{args.idle_seconds:.0f} s (CPU % of one core, whole process tree)"
        + (f"; agent frames: {args.format or 'as the agent chooses'}:" if args.agent else ":")
    )
    for kind, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("idle", "work", "after", "hwm_mb", "rss_mb", "pss_mb")}
        stop = statistics.median(float("inf") if r["stop_s"] is None else r["stop_s"] for r in rs)
        killed = sum(r["stop_s"] is None for r in rs)
        print(
            f"  {kind:5s} work {med['work']:6.2f} %  after {med['after']:6.2f} %  idle {med['idle']:5.2f} %  "
            f"peak RSS {med['hwm_mb']:5.1f} MB (tree {med['rss_mb']:5.1f}, PSS {med['pss_mb']:5.1f})  "
            f"stop {_stop_text(stop)} (killed in {killed}/{len(rs)})"
        )
    if args.agent:
        agent, floor = (statistics.median(r["work"] for r in runs[k]) for k in ("agent", "floor"))
        print(f"  agent/floor work CPU: {agent / floor:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", metavar="DISPLAY")
    parser.add_argument("--format", default=None, help="frame format (phases: webp; office: the agent's default)")
    parser.add_argument("--agent", action="store_true", help="measure the whole agent, not capture alone")
    parser.add_argument("--agent-home", default="")
    parser.add_argument("--workload", choices=("phases", "office"), default="phases")
    parser.add_argument("--work-seconds", type=float, default=60.0, help="office: length of the work phase")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="office: idle before and after the work")
    parser.add_argument("--seed", type=int, default=1, help="office: seed of the input script")
    parser.add_argument("--stop-cap", type=float, default=30.0, help="office: SIGKILL a recorder not gone by then")
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.floor:
            from office import floor_child

            floor_child(args.child)
        elif args.agent_home:
            agent_child(args.child, args.format, args.agent_home)
        else:
            child(args.child, args.format or "webp")
        return
    if args.workload == "office":
        office_main(args)
        return
    for fmt, (ms, size) in encode_costs().items():
        print(f"encode {fmt:5s} one 1280x800 xterm desktop: {ms:6.1f} ms, {size / 1024:6.1f} KiB")
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        home = ""
        if args.agent:
            import tempfile

            home = enrolled_home(Path(tempfile.mkdtemp(prefix=f"wp-bench-{i}-"))).home
        r = one_run(args.seconds, "webp", with_idle=True, agent_home=home)
        if args.agent:
            home = enrolled_home(Path(tempfile.mkdtemp(prefix=f"wp-bench-{i}-jpeg-"))).home
        r.update(one_run(args.seconds, "jpeg", with_idle=False, agent_home=home))
        runs.append(r)
        print("run:", {k: round(v, 2) for k, v in r.items()}, flush=True)
    print(f"median of {args.runs} runs, {args.seconds:.0f} s per phase (CPU % of one core):")
    for key in runs[0]:
        print(f"  {key:14s} {statistics.median(r[key] for r in runs):8.2f}")


if __name__ == "__main__":
    main()
