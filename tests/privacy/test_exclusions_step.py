"""The exclusion step on event streams: nothing of an excluded focused window passes; frames get rects blanked."""

from __future__ import annotations

import hashlib
import io

import msgpack
from PIL import Image

from workprint.models import (
    ButtonEvent,
    ControlEvent,
    Event,
    FrameEvent,
    KeyEvent,
    MotionEvent,
    ScrollEvent,
    WindowEvent,
    to_record,
)
from workprint.privacy.exclusion_step import ExclusionStep, blank_rects
from workprint.privacy.exclusions import ExclusionRules
from workprint.privacy.gate import Item, PrivacyGate

MS = 1_000_000
CANARY = "CANARYzq81"


class Stream:
    """Builds a realistic event stream with increasing timestamps."""

    def __init__(self) -> None:
        self.t = 1_000 * MS
        self.items: list[Item] = []

    def _tick(self) -> tuple[int, int]:
        self.t += 7 * MS
        return self.t, 1_780_000_000_000_000_000 + self.t

    def window(self, app: str, title: str, rect: tuple[int, int, int, int] = (0, 0, 640, 400)) -> None:
        self.items.append((WindowEvent(*self._tick(), app, title, 42, *rect, 1280, 800), None))

    def type(self, text: str) -> None:
        for ch in text:
            self.items.append((KeyEvent(*self._tick(), True, 38, ch, ch), None))
            self.items.append((KeyEvent(*self._tick(), False, 38, ch, ""), None))

    def click(self, x: int, y: int) -> None:
        t, w = self._tick()
        self.items.append((MotionEvent(t, w, ((t, x, y),)), None))
        self.items.append((ButtonEvent(*self._tick(), True, x, y, 1), None))
        self.items.append((ButtonEvent(*self._tick(), False, x, y, 1), None))
        self.items.append((ScrollEvent(*self._tick(), x, y, 0, -1), None))

    def frame(self, data: bytes) -> None:
        t, w = self._tick()
        sha = hashlib.sha256(data).hexdigest()
        self.items.append((FrameEvent(t, w, f"f{t}", 1280, 800, "jpeg", sha, t + 1), data))


def screen_jpeg(color: tuple[int, int, int] = (200, 220, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1280, 800), color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def run(items: list[Item], step: ExclusionStep) -> list[Item]:
    gate = PrivacyGate(steps=[step])
    out: list[Item] = []
    for event, data in items:
        out.extend(gate.admit(event, data))
    return out + gate.flush()


def dump(items: list[Item]) -> bytes:
    return b"".join(msgpack.packb(to_record(e)) + (d or b"") for e, d in items)


def test_canary_typed_in_an_excluded_window_never_comes_out() -> None:
    s = Stream()
    s.window("XTerm", "alice@host: ~")
    s.type("hello")
    s.window("KeePassXC", "Vault.kdbx - KeePassXC")
    s.type(CANARY)
    s.click(100, 100)
    s.frame(screen_jpeg())
    s.window("KeePassXC", f"{CANARY} entry - KeePassXC")  # a title change inside the excluded window
    s.type(CANARY)
    s.window("XTerm", "alice@host: ~")
    s.type("bye")
    out = run(s.items, ExclusionStep(ExclusionRules()))
    blob = dump(out)
    assert CANARY.encode() not in blob
    assert b"KeePass" not in blob and b"Vault" not in blob
    typed = "".join(e.text for e, _ in out if isinstance(e, KeyEvent) and e.press)
    assert typed == "hellobye"
    kinds = [e.kind for e, _ in out if isinstance(e, ControlEvent)]
    assert kinds == ["exclusion_enter", "exclusion_leave"]
    assert not any(isinstance(e, FrameEvent | ButtonEvent | ScrollEvent | MotionEvent) for e, _ in out)


def test_exclusion_leave_carries_the_duration() -> None:
    s = Stream()
    s.window("firefox", "Shop - Mozilla Firefox (Private Browsing)")
    enter_t = s.t
    s.type("x" * 10)
    s.window("firefox", "Docs - Mozilla Firefox")
    leave_t = s.t
    out = run(s.items, ExclusionStep(ExclusionRules()))
    leave = next(e for e, _ in out if isinstance(e, ControlEvent) and e.kind == "exclusion_leave")
    assert leave.get("duration_ms") == str((leave_t - enter_t) // MS)
    assert isinstance(out[-1][0], WindowEvent) and out[-1][0].title == "Docs - Mozilla Firefox"


def test_personal_site_rule_excludes_a_browser_tab_until_it_changes() -> None:
    rules = ExclusionRules.build(personal=[{"kind": "site", "value": "Bank of X"}])
    s = Stream()
    s.window("firefox", "Login - Bank of X - Mozilla Firefox")
    s.type(CANARY)
    s.window("firefox", "News - Mozilla Firefox")
    s.type("ok")
    out = run(s.items, ExclusionStep(rules))
    assert CANARY.encode() not in dump(out)
    assert "".join(e.text for e, _ in out if isinstance(e, KeyEvent) and e.press) == "ok"


def test_control_events_pass_while_excluded() -> None:
    step = ExclusionStep(ExclusionRules())
    step.feed((WindowEvent(1, 1, "i3lock", "", 1, 0, 0, 10, 10, 100, 100), None))
    assert step.excluded
    pause = ControlEvent(2, 2, "pause")
    assert step.feed((pause, None)) == [(pause, None)]


def test_rules_callable_is_consulted_at_each_focus_change() -> None:
    current = [ExclusionRules(())]
    step = ExclusionStep(lambda: current[0])
    w = WindowEvent(1, 1, "Gedit", "diary", 1, 0, 0, 10, 10, 100, 100)
    assert step.feed((w, None)) == [(w, None)]
    current[0] = ExclusionRules.build(personal=[{"kind": "app", "value": "gedit"}], defaults=False)
    assert [e.KIND for e, _ in step.feed((w, None))] == ["control"]


def _pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    px = img.getpixel((x, y))
    assert isinstance(px, tuple)
    return (int(px[0]), int(px[1]), int(px[2]))


def test_blank_rects_blacks_out_only_the_rects() -> None:
    data = screen_jpeg((250, 250, 250))
    out = blank_rects(data, [(100, 50, 200, 100)])
    assert Image.open(io.BytesIO(out)).format == "JPEG"
    assert max(_pixel(out, 150, 100)) < 20
    assert min(_pixel(out, 50, 20)) > 230
    assert min(_pixel(out, 350, 100)) > 230
    half = blank_rects(data, [(100, 50, 200, 100)], scale=(0.5, 0.5))
    assert max(_pixel(half, 60, 40)) < 20 and min(_pixel(half, 150, 100)) > 230


def test_frame_while_excluded_window_is_visible_but_not_focused_is_blanked() -> None:
    s = Stream()
    s.window("KeePassXC", "Vault - KeePassXC", (700, 100, 400, 300))
    s.window("XTerm", "alice@host: ~", (0, 0, 640, 400))
    s.frame(screen_jpeg((250, 250, 250)))
    out = run(s.items, ExclusionStep(ExclusionRules()))
    frame, data = next((e, d) for e, d in out if isinstance(e, FrameEvent))
    assert data is not None
    assert max(_pixel(data, 800, 200)) < 20
    assert max(_pixel(data, 800, 75)) < 20  # its title bar, above the client area, too
    assert min(_pixel(data, 300, 200)) > 230
    assert frame.sha256 == hashlib.sha256(data).hexdigest()


def test_visible_windows_provider_replaces_the_remembered_rects() -> None:
    visible = [("XTerm", "alice@host: ~", (0, 0, 640, 400)), ("Bitwarden", "Bitwarden", (0, 400, 300, 300))]
    step = ExclusionStep(ExclusionRules(), visible_windows=lambda: visible)
    assert step.excluded_rects() == [(-8, 368, 316, 340)]  # grown to cover the window manager's frame
    bare = ExclusionStep(ExclusionRules(), visible_windows=lambda: visible, pad=(0, 0, 0, 0))
    assert bare.excluded_rects() == [(0, 400, 300, 300)]


def test_frame_that_cannot_be_blanked_is_dropped() -> None:
    s = Stream()
    s.window("KeePassXC", "Vault - KeePassXC", (700, 100, 400, 300))
    s.window("XTerm", "alice@host: ~")
    s.frame(b"not an image")
    gate = PrivacyGate(steps=[ExclusionStep(ExclusionRules())])
    out: list[Item] = []
    for e, d in s.items:
        out.extend(gate.admit(e, d))
    assert not any(isinstance(e, FrameEvent) for e, _ in out)
    assert gate.dropped == 1


def test_events_and_order_are_untouched_when_nothing_is_excluded() -> None:
    s = Stream()
    s.window("XTerm", "alice@host: ~")
    s.type("abc")
    s.click(5, 5)
    s.frame(screen_jpeg())
    out = run(s.items, ExclusionStep(ExclusionRules()))
    expect: list[Event] = [e for e, _ in s.items]
    assert [e for e, _ in out] == expect


def test_remembered_rects_are_bounded_and_forget_the_oldest() -> None:
    from workprint.privacy.exclusion_step import MAX_REMEMBERED

    step = ExclusionStep(ExclusionRules(), pad=(0, 0, 0, 0))
    for i in range(MAX_REMEMBERED + 5):
        step.feed((WindowEvent(i, i, "KeePassXC", "v", 1, i, 0, 10, 10, 1280, 800), None))
    rects = step.excluded_rects()
    assert len(rects) == MAX_REMEMBERED
    assert (0, 0, 10, 10) not in rects and (MAX_REMEMBERED + 4, 0, 10, 10) in rects
