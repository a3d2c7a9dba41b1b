"""The "office" workload of bench/capture.py: a text-heavy desktop, seeded office-like input, and a bare floor.

Why a module of its own: the phases of capture.py measure one process under synthetic input. This workload replays
one seeded script identically against two recorders, so it needs the script as data (``office_script``), a player
that keeps 60 Hz pointer paths on time (``play``: python-xlib's XTEST in this process, because an xdotool process
per motion step would cost the 2 shared cores more than the recorders under test), a meter of a whole process tree
(``TreeMeter``: OCR runs in child processes, which /proc/<pid>/stat of the recorder alone does not show), the floor
recorder itself (``floor_child``) and a count of what the agent's recording kept (``kept_on_server``).

Desktop (``office_desktop``): Xvfb 1280x800x24 on a free display number, openbox, two xterms side by side, one
showing the GPL text and one ``ls -la`` of /usr/lib and /usr/bin, each then running ``cat > /dev/null`` so typing
echoes without a shell clearing the screen. Work phase (``office_script``): a cycle of ~3.3 s: a 60 Hz pointer path
to a random point in an xterm, then a click (some double clicks and drags), sometimes 3-8 wheel notches, then a burst
of 1-3 words at ~7.5 keys/s (over the phase ~4 characters, ~4.5 keys per second) with an occasional typo fixed with
BackSpace, now and then Ctrl+L or Return; Alt+Tab every 15 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
KEY, BUTTON, MOTION = "key", "button", "motion"
MOTION_STEP_S = 1 / 60
SWITCH_EVERY_S = 15.0
TOP_MARGIN = 70  # clicks stay below the title bars and the agent's indicator (a click on it would pause recording)
_WORDS = (
    "the report budget meeting draft review quarter figures update project schedule invoice summary table total "
    "sales team plan notes agenda minutes action items follow next week please send attached file version final "
    "numbers check against last year forecast cost supplier order delivery status open closed pending approve "
    "signed contract terms section page chapter paragraph list point issue ticket fixed merged branch build test"
)
WORDS = tuple(_WORDS.split())  # plain office words: none is a value the redactor would replace
_KEYSYMS = {" ": "space", ".": "period", ",": "comma"}

Rect = tuple[int, int, int, int]  # x, y, width, height on the root window


# ----- the seeded script -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Input:
    """One XTEST input ``t`` seconds into the work phase: a key (keysym name) or button down/up, or a pointer move."""

    t: float
    kind: str
    down: bool = False
    key: str = ""
    button: int = 0
    x: int = 0
    y: int = 0


@dataclass(frozen=True, slots=True)
class Script:
    """The work phase's inputs and what they amount to; ``typed`` holds every printable key, typos included."""

    inputs: tuple[Input, ...]
    typed: str

    def count(self, kind: str, buttons: Sequence[int] = ()) -> int:
        """Presses of ``kind`` (keys; or buttons among ``buttons``)."""
        return sum(1 for i in self.inputs if i.kind == kind and i.down and (not buttons or i.button in buttons))


class _Writer:
    """Appends timed inputs; ``t`` only grows, so the script is in time order by construction."""

    def __init__(self, rng: random.Random, rects: Sequence[Rect]) -> None:
        self.rng = rng
        self.rects = rects
        self.t = 0.0
        self.inputs: list[Input] = []
        self.typed: list[str] = []
        self.focus = 0
        x, y, w, h = rects[0]
        self.pos = (x + w // 2, y + h // 2)
        self.sentence_start = True
        self.next_switch = SWITCH_EVERY_S

    def add(self, dt: float, kind: str, **kw: Any) -> None:
        self.t += dt
        self.inputs.append(Input(round(self.t, 4), kind, **kw))

    def tap(self, key: str, gap: float) -> None:
        self.add(gap, KEY, down=True, key=key)
        self.add(self.rng.uniform(0.03, 0.06), KEY, down=False, key=key)

    def chord(self, modifier: str, key: str) -> None:
        self.add(0.2, KEY, down=True, key=modifier)
        self.tap(key, 0.06)
        self.add(0.05, KEY, down=False, key=modifier)

    def char(self, c: str) -> None:
        gap = self.rng.uniform(0.05, 0.12)  # with the hold, ~7.5 keys/s inside a burst
        name = _KEYSYMS.get(c, c.lower())
        if c.isupper():
            self.add(gap, KEY, down=True, key="Shift_L")
            self.tap(name, 0.03)
            self.add(0.02, KEY, down=False, key="Shift_L")
        else:
            self.tap(name, gap)
        self.typed.append(c)

    def word(self, w: str) -> None:
        if self.sentence_start:
            w = w.capitalize()
            self.sentence_start = False
        cut = self.rng.randrange(len(w)) if self.rng.random() < 0.1 else -1
        for i, c in enumerate(w):
            if i == cut:  # a typo noticed a moment later and fixed
                wrong = self.rng.choices("asdfghjkl", k=self.rng.randint(1, 2))
                for x in wrong:
                    self.char(x)
                self.t += self.rng.uniform(0.2, 0.5)
                for _ in wrong:
                    self.tap("BackSpace", 0.12)
            self.char(c)

    def burst(self) -> None:
        if self.rng.random() < 0.12:
            self.chord("Control_L", "l")
        for n in range(self.rng.randint(1, 3)):
            if n:
                self.char(" ")
            self.word(self.rng.choice(WORDS))
            r = self.rng.random()
            if r < 0.1:
                self.char(".")
                self.sentence_start = True
            elif r < 0.2:
                self.char(",")
        if self.rng.random() < 0.3:
            self.tap("Return", 0.3)
            self.sentence_start = True
        else:
            self.char(" ")

    def point_in(self, rect: Rect) -> tuple[int, int]:
        x, y, w, h = rect
        return self.rng.randint(x + 10, x + w - 10), self.rng.randint(y + TOP_MARGIN, y + h - 10)

    def move(self, to: tuple[int, int], seconds: float) -> None:
        (x0, y0), (x1, y1) = self.pos, to
        steps = max(2, int(seconds / MOTION_STEP_S))
        for i in range(1, steps + 1):
            f = i / steps
            f = f * f * (3 - 2 * f)  # ease in and out, like a hand
            jitter = self.rng.randint(-1, 1) if i < steps else 0
            self.add(MOTION_STEP_S, MOTION, x=round(x0 + (x1 - x0) * f) + jitter, y=round(y0 + (y1 - y0) * f))
        self.pos = to

    def press(self, button: int, hold: float) -> None:
        self.add(0.0, BUTTON, down=True, button=button)
        self.add(hold, BUTTON, down=False, button=button)

    def pointer(self) -> None:
        if self.rng.random() < 0.1:
            self.focus = 1 - self.focus  # a click in the other xterm focuses it
        self.move(self.point_in(self.rects[self.focus]), self.rng.uniform(0.2, 0.5))
        self.t += self.rng.uniform(0.05, 0.15)
        r = self.rng.random()
        if r < 0.72:
            self.press(1, self.rng.uniform(0.06, 0.12))
        elif r < 0.84:
            self.press(1, 0.07)
            self.t += 0.08
            self.press(1, 0.07)
        else:  # a drag selects text
            x, y, w, h = self.rects[self.focus]
            self.add(0.0, BUTTON, down=True, button=1)
            dx, dy = self.rng.randint(-200, 200), self.rng.randint(-60, 60)
            to = (min(max(self.pos[0] + dx, x + 10), x + w - 10), min(max(self.pos[1] + dy, y + TOP_MARGIN), y + h - 9))
            self.move(to, self.rng.uniform(0.3, 0.8))
            self.add(0.05, BUTTON, down=False, button=1)
        if self.rng.random() < 0.3:
            button = self.rng.choice((4, 5))
            for _ in range(self.rng.randint(3, 8)):
                self.press(button, 0.01)
                self.t += self.rng.uniform(0.04, 0.09)

    def cycle(self) -> None:
        start = self.t
        if self.t >= self.next_switch:
            self.chord("Alt_L", "Tab")
            self.focus = 1 - self.focus
            self.next_switch += SWITCH_EVERY_S
        self.pointer()
        self.t += self.rng.uniform(0.05, 0.2)
        self.burst()
        self.t = max(self.t, start + self.rng.uniform(2.5, 3.3))  # with the longer bursts, a click every ~3.3 s


def office_script(seed: int, seconds: float, rects: Sequence[Rect]) -> Script:
    """The work phase for ``seconds``: whole cycles only, so no key or button is left down at its end."""
    w = _Writer(random.Random(seed), rects)
    cut = (0, 0)
    while w.t <= seconds:  # every cycle advances t by at least 2.5 s; the one that ends past ``seconds`` is cut
        cut = (len(w.inputs), len(w.typed))
        w.cycle()
    return Script(tuple(w.inputs[: cut[0]]), "".join(w.typed[: cut[1]]))


def play(display_name: str, script: Script, start: float) -> float:
    """Inject ``script`` with XTEST, each input at ``start`` + its time; returns the worst lateness in seconds."""
    from Xlib import XK, X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    d = xdisplay.Display(display_name)
    try:
        codes = {i.key: d.keysym_to_keycode(XK.string_to_keysym(i.key)) for i in script.inputs if i.kind == KEY}
        missing = sorted(k for k, c in codes.items() if not c)
        if missing:
            raise RuntimeError(f"keysyms not on the keyboard of {display_name}: {missing}")
        late = 0.0
        for inp in script.inputs:
            delay = start + inp.t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            late = max(late, -delay)
            if inp.kind == MOTION:
                xtest.fake_input(d, X.MotionNotify, x=inp.x, y=inp.y)
            elif inp.kind == BUTTON:
                xtest.fake_input(d, X.ButtonPress if inp.down else X.ButtonRelease, inp.button)
            else:
                xtest.fake_input(d, X.KeyPress if inp.down else X.KeyRelease, codes[inp.key])
            d.flush()
        d.sync()
    finally:
        d.close()
    return late


# ----- the desktop -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Desktop:
    """A display name, its environment, and the xterms' rectangles (left, right)."""

    display: str
    env: dict[str, str]
    rects: tuple[Rect, ...]


def _xdotool(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=15, check=True)
    return out.stdout


@contextlib.contextmanager
def office_desktop() -> Iterator[Desktop]:
    """Xvfb 1280x800x24 with openbox and two text-filled xterms side by side, the left one focused."""
    from workprint.capture.xvfb import VirtualDisplay

    texts = ("cat /usr/share/common-licenses/GPL-3", "ls -la /usr/lib /usr/bin")
    terms: list[subprocess.Popen[bytes]] = []
    with VirtualDisplay(1280, 800) as vd:
        try:
            for i, text in enumerate(texts):
                argv = ["xterm", "-T", f"office{i}", "-geometry", f"104x58+{640 * i}+0"]
                argv += ["-e", "sh", "-c", f"{text}; exec cat >/dev/null"]
                terms.append(subprocess.Popen(argv, env=vd.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            rects = []
            for i in range(len(texts)):
                wid = _xdotool(vd.env, "search", "--sync", "--onlyvisible", "--name", f"office{i}").split()[0]
                geo = dict(ln.split("=") for ln in _xdotool(vd.env, "getwindowgeometry", "--shell", wid).split())
                rects.append((int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"])))
            time.sleep(1.0)  # let both finish printing their text
            _xdotool(vd.env, "search", "--onlyvisible", "--name", "office0", "windowactivate", "--sync")
            x, y, w, h = rects[0]
            _xdotool(vd.env, "mousemove", str(x + w // 2), str(y + h // 2))
            yield Desktop(vd.display, vd.env, tuple(rects))
        finally:
            for term in terms:
                term.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    term.wait(timeout=5)


# ----- measuring a process tree ----------------------------------------------------------------------------------
def _stats() -> dict[int, list[str]]:
    """Every process's /proc/<pid>/stat fields after the command name (index 1 is the parent pid)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                out[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
    return out


def tree_pids(root: int, stats: dict[int, list[str]] | None = None) -> list[int]:
    """``root`` and all its live descendants, parents before children."""
    stats = _stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, f in stats.items():
        children.setdefault(int(f[1]), []).append(pid)
    out, todo = [], [root] if root in stats else []
    while todo:  # a tree: each pid is visited once
        pid = todo.pop(0)
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_ticks(root: int) -> int:
    """CPU ticks of ``root``'s tree: utime+stime of each live process plus cutime+cstime (the children it reaped).

    One pass over /proc, in pid order (parents first unless pids wrapped): a child reaped between the reads of its
    parent and its own is missed by this one reading, never counted twice; the next reading has it in the parent.
    """
    stats = _stats()
    return sum(sum(int(v) for v in stats[pid][11:15]) for pid in tree_pids(root, stats))


def _kb(pid: int, file: str, key: str) -> int:
    """One "Key:  N kB" line of /proc/<pid>/<file> (status, smaps_rollup); 0 if absent or the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


@dataclass
class TreeMeter:
    """Samples the memory of ``root``'s tree twice a second in a thread; CPU is read on demand (``ticks``)."""

    root: int
    peak_hwm_kb: int = 0  # the root's own VmHWM, as last seen alive
    peak_rss_kb: int = 0  # the largest sampled sum of VmRSS over the tree
    peak_pss_kb: int = 0  # the same for PSS (shared pages split between sharers), 0 without smaps_rollup
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tree-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):  # ends with stop(), at the latest when the recorder is gone
            self.sample()

    def sample(self) -> None:
        pids = tree_pids(self.root)  # [] once it is gone: every reading below is then 0
        self.peak_hwm_kb = max(self.peak_hwm_kb, _kb(self.root, "status", "VmHWM"))
        self.peak_rss_kb = max(self.peak_rss_kb, sum(_kb(p, "status", "VmRSS") for p in pids))
        self.peak_pss_kb = max(self.peak_pss_kb, sum(_kb(p, "smaps_rollup", "Pss") for p in pids))

    def ticks(self) -> int:
        return tree_ticks(self.root)

    def cpu_percent(self, seconds: float, start_ticks: int, start_t: float) -> float:
        """CPU % of one core since (``start_t``, ``start_ticks``), after sleeping until ``start_t + seconds``."""
        time.sleep(max(0.0, start_t + seconds - time.monotonic()))
        return 100.0 * (self.ticks() - start_ticks) / TICK / (time.monotonic() - start_t)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# ----- recorder children: start, stop ----------------------------------------------------------------------------
def wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM (as Ctrl-C stops ``workprint record``) or until stdin closes (parent gone)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()
    stop.wait()


def wait_ready(proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait for the child's "ready" line; raise if it dies or stays silent for ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if line != "ready":
        raise RuntimeError(f"recorder pid {proc.pid} not ready after {timeout:.0f} s (said {line!r})")


def interrupt(proc: subprocess.Popen[str], cap_s: float) -> float | None:
    """SIGINT the recorder; seconds until it exited, or None if it was still running after ``cap_s`` (then killed).

    The signal goes to the recorder alone (like ``kill -INT``), not its group: OCR children it is waiting for must
    finish or be stopped by the recorder. The group (the recorder runs in a session of its own) is killed after the
    cap, and after a clean exit too, so that no orphan outlives the run.
    """
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=cap_s)
        took: float | None = time.monotonic() - start
    except subprocess.TimeoutExpired:
        took = None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return took


def last_json(text: str) -> dict[str, Any]:
    """The last JSON object line a child printed (its stats), or {} if it printed none (killed)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                return dict(json.loads(line))
    return {}


# ----- the bare floor --------------------------------------------------------------------------------------------
def _typing_keycodes(d: Any) -> set[int]:
    """Keycodes that type text or edit it (printable Latin-1, BackSpace, Shift): the agent's run keys."""
    from Xlib import XK

    edit = {XK.string_to_keysym(n) for n in ("BackSpace", "Shift_L", "Shift_R")}
    return {k for k in range(8, 256) if 0x20 <= (s := d.keycode_to_keysym(k, 0)) <= 0xFF or s in edit}


def floor_child(display_name: str) -> None:
    """The bare floor: X RECORD input; on each click and each key press that starts a typing run, a mss grab of the
    screen encoded as WebP (quality 80, method 0), then thrown away. Prints its counts as JSON on SIGINT."""
    import mss
    from PIL import Image
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import record
    from Xlib.protocol import rq

    ctl, data = xdisplay.Display(display_name), xdisplay.Display(display_name)
    typing_keys = _typing_keycodes(ctl)
    chord = X.ControlMask | X.Mod1Mask | X.Mod4Mask
    none, none4 = (0, 0), (0, 0, 0, 0)  # RECORD ranges: device events only, as the agent's capture asks
    ranges: dict[str, Any] = {"core_requests": none, "core_replies": none, "ext_requests": none4}
    ranges |= {"ext_replies": none4, "delivered_events": none, "errors": none, "client_started": False}
    ranges |= {"device_events": (X.KeyPress, X.MotionNotify), "client_died": False}
    ctx = ctl.record_create_context(0, [record.AllClients], [ranges])
    ctl.sync()
    counts = {"frames": 0, "bytes": 0, "events": 0}
    state: dict[str, Any] = {"typing": False, "sct": None}
    parser = rq.EventField("event")

    def grab() -> None:
        if state["sct"] is None:  # made on the RECORD thread, which is the one that uses it
            state["sct"] = mss.MSS(display=display_name)
        shot = state["sct"].grab(state["sct"].monitors[0])
        out = io.BytesIO()
        Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX").save(out, format="WEBP", quality=80, method=0)
        counts["frames"] += 1
        counts["bytes"] += out.tell()

    def on_event(ev: Any) -> None:
        counts["events"] += 1
        if ev.type == X.KeyPress:
            typing = ev.detail in typing_keys and not ev.state & chord
            if not (typing and state["typing"]):
                grab()
            state["typing"] = typing
        elif ev.type == X.ButtonPress:
            state["typing"] = False  # a click or a scroll ends a typing run
            if ev.detail in (1, 2, 3):
                grab()

    def on_reply(reply: Any) -> None:
        if reply.category != record.FromServer or reply.client_swapped or not reply.data:
            return
        raw = reply.data
        while raw:
            ev, raw = parser.parse_binary_value(raw, data.display, None, None)
            on_event(ev)

    thread = threading.Thread(target=data.record_enable_context, args=(ctx, on_reply), name="record", daemon=True)
    thread.start()
    print("ready", flush=True)
    wait_for_stop()
    ctl.record_disable_context(ctx)
    ctl.sync()
    thread.join(timeout=5)
    ctl.record_free_context(ctx)
    ctl.close()
    print(json.dumps(counts), flush=True)
