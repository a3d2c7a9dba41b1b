"""KeyRedactor on event streams: values typed with typos never leave the step; order and boundaries hold."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from keystream import KeyStream
from workprint.errors import RedactionError
from workprint.models import ButtonEvent, ControlEvent, Event, FrameEvent, KeyEvent, MotionEvent, WindowEvent
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.redact import KeyRedactor
from workprint.privacy.redact import step as step_module

CANARY = "canary.7f3a@example.org"


class Keys(KeyStream):
    """Builds press/release pairs like capture does, with increasing timestamps (50 ms apart)."""

    def __init__(self) -> None:
        super().__init__(1_000_000, 50_000_000)

    def window(self, app: str, title: str) -> Event:
        t = self.now()
        return WindowEvent(t, t, app, title, 1, 0, 0, 800, 600, 1280, 800)


def run(step: KeyRedactor, events: list[Event], flush: bool = True) -> list[Item]:
    out: list[Item] = []
    for e in events:
        out += step.feed((e, b"png" if isinstance(e, FrameEvent) else None))
    return out + (step.flush() if flush else [])


def typed_text(items: list[Item]) -> str:
    return "".join(e.text for e, _ in items if isinstance(e, KeyEvent) and e.press)


def test_canary_email_typed_with_corrected_typo_never_leaves_the_step() -> None:
    k = Keys()
    typo = CANARY[:6] + "q\b" + CANARY[6:]
    events = [k.window("Thunderbird", "Write: hello"), *k.type(f"mail me at {typo} today\n")]
    out = run(KeyRedactor(), events)
    texts = [e.text for e, _ in out if isinstance(e, KeyEvent)]
    assert typed_text(out) == "mail me at <EMAIL> today\n"
    for piece in ("canary", "7f3a", "example.org", "q"):
        assert piece not in "".join(t for t in texts if t != "<EMAIL>")
    placeholders = [e for e, _ in out if isinstance(e, KeyEvent) and e.keysym == "Redacted"]
    assert [(p.press, p.keycode, p.text) for p in placeholders] == [(True, 0, "<EMAIL>"), (False, 0, "<EMAIL>")]
    first_stroke = next(e for e in events if isinstance(e, KeyEvent) and e.text == "c")
    assert placeholders[0].t_ns == first_stroke.t_ns
    assert [e.t_ns for e, _ in out] == sorted(e.t_ns for e, _ in out)


def test_keys_are_held_until_a_boundary_then_released_in_order() -> None:
    k = Keys()
    step = KeyRedactor()
    events = k.type("hello")
    assert run(step, events, flush=False) == []
    click = ButtonEvent(next(k.t), 0, True, 10, 10, 1)
    out = step.feed((click, None))
    assert [e for e, _ in out] == [*events, click]


def test_frames_and_motion_do_not_end_a_field() -> None:
    k = Keys()
    step = KeyRedactor()
    events: list[Event] = []
    for ch in "bob@example.com":
        t = next(k.t)
        events.append(FrameEvent(t, t, f"f{t}", 10, 10, "png", "0" * 64, t))
        events.append(MotionEvent(t, t, ((t, 1, 1),)))
        events += k.type(ch)
    out = run(step, [*events, *k.type("\n")])
    assert typed_text(out) == "<EMAIL>\n"
    assert sum(isinstance(e, FrameEvent) for e, _ in out) == 15


def test_password_after_user_name_and_tab_in_login_window() -> None:
    k = Keys()
    events = [k.window("firefox", "Sign in - Outlook"), *k.type("asmith\tHunter2!x\n")]
    out = run(KeyRedactor(), events)
    assert typed_text(out) == "asmith\t<PASSWORD>\n"


def test_terminal_line_after_sudo_is_a_password() -> None:
    k = Keys()
    events = [k.window("xterm", "bob@laptop: ~"), *k.type("sudo apt upgrade\ncorrect-horse\n")]
    assert typed_text(run(KeyRedactor(), events)) == "sudo apt upgrade\n<PASSWORD>\n"


def test_window_titles_are_redacted() -> None:
    k = Keys()
    out = run(KeyRedactor(), [k.window("Thunderbird", "Inbox - alice.jones@example.org - Thunderbird")])
    (event, _), = out  # fmt: skip
    assert isinstance(event, WindowEvent) and event.title == "Inbox - <EMAIL> - Thunderbird"


def test_idle_gap_ends_the_field() -> None:
    k = Keys()
    step = KeyRedactor(idle_ns=1_000_000_000)
    first = k.type("abc")
    assert run(step, first, flush=False) == []
    late = KeyEvent(first[-1].t_ns + 3_000_000_000, 0, True, 40, "d", "d")
    assert [e for e, _ in step.feed((late, None))] == first


def test_release_after_boundary_of_a_replaced_key_is_dropped() -> None:
    k = Keys()
    press_m = KeyEvent(next(k.t), 0, True, 58, "m", "m")
    rel_m = KeyEvent(next(k.t) + 10**9, 0, False, 58, "m", "m")
    events = [*k.type("bob@example.co"), press_m, *k.type("\t")[:1], rel_m]
    out = run(KeyRedactor(), events)
    assert not any(isinstance(e, KeyEvent) and e.keycode == 58 for e, _ in out)


def test_frame_whose_redaction_fails_is_dropped_alone() -> None:
    def broken(frame: FrameEvent, data: bytes, title: str, known: Sequence[str]) -> bytes:
        raise RedactionError("frame: OCR timed out after 2.0 s")

    k = Keys()
    step = KeyRedactor(frame_redactor=broken)
    t = next(k.t)
    out = run(step, [FrameEvent(t, t, "f", 10, 10, "png", "0" * 64, t), *k.type("bob@example.com\n")])
    assert not any(isinstance(e, FrameEvent) for e, _ in out)
    assert typed_text(out) == "<EMAIL>\n" and step.frames_dropped == 1


def test_failure_in_detection_drops_held_keys_and_gate_drops_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    k = Keys()
    step = KeyRedactor()
    gate = PrivacyGate(steps=[step])
    admitted: list[Item] = []
    for e in k.type("bob@example.com"):
        admitted += gate.admit(e)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(step_module, "sources_of_values", broken)
    admitted += gate.admit(ButtonEvent(next(k.t), 0, True, 1, 1, 1))
    assert admitted == [] and gate.dropped == 1
    monkeypatch.undo()
    later = k.type("ok\n")
    assert [e for e, _ in run(step, later)] == later  # nothing of the dropped field comes back later


@pytest.mark.parametrize("boundary", ["click", "control", "flush"])
def test_every_boundary_releases_redacted(boundary: str) -> None:
    k = Keys()
    step = KeyRedactor()
    out = run(step, k.type("4111 1111 1111 1111"), flush=False)
    if boundary == "click":
        out += step.feed((ButtonEvent(next(k.t), 0, True, 1, 1, 1), None))
    elif boundary == "control":
        out += step.feed((ControlEvent(next(k.t), 0, "pause"), None))
    else:
        out += step.flush()
    assert typed_text(out) == "<CARD>"


def test_held_frames_get_the_typed_values_to_blank_half_typed_text() -> None:
    seen: list[tuple[str, list[str]]] = []

    def frames(frame: FrameEvent, data: bytes, title: str, known: Sequence[str]) -> bytes:
        seen.append((title, list(known)))
        return b"redacted:" + data

    k = Keys()
    events: list[Event] = [k.window("Thunderbird", "Write")]
    for ch in "to jo@x.io":
        t = next(k.t)
        events += [FrameEvent(t, t, "f", 10, 10, "png", "0" * 64, t), *k.type(ch)]
    out = run(KeyRedactor(frame_redactor=frames), [*events, *k.type("\n")])
    assert seen and all(title == "Write" and "jo@x.io" in known for title, known in seen)
    assert all(d is not None and d.startswith(b"redacted:") for e, d in out if isinstance(e, FrameEvent))


def test_form_fields_released_one_by_one_are_judged_as_fields() -> None:
    k = Keys()
    events = [k.window("firefox", "Create account - Shop"), *k.type("Ettore\tMorosini\tSave\t3396100837\n")]
    assert typed_text(run(KeyRedactor(), events)) == "<NAME>\t<NAME>\tSave\t<PHONE>\n"


def test_password_field_reached_by_a_click_after_the_user_name() -> None:
    k = Keys()
    t = next(k.t)
    click = [ButtonEvent(t, t, True, 400, 300, 1), ButtonEvent(t + 1, t + 1, False, 400, 300, 1)]
    events = [k.window("firefox", "Log in | Jira"), *k.type("asmith"), *click, *k.type("sunshine\n")]
    assert typed_text(run(KeyRedactor(), events)) == "asmith<PASSWORD>\n"


def test_values_of_earlier_fields_are_blanked_in_every_later_frame() -> None:
    # The name stays in its box while the next field is typed: later frames must not show it either.
    seen: list[list[str]] = []

    def frames(frame: FrameEvent, data: bytes, title: str, known: Sequence[str]) -> bytes:
        seen.append(list(known))
        return data

    k = Keys()
    events: list[Event] = [k.window("Tk", "Expense report"), *k.type("Ada Lovelace\t")]
    t = next(k.t)
    events += [FrameEvent(t, t, "f", 10, 10, "png", "0" * 64, t), *k.type("42.50\n")]
    t = next(k.t)
    events += [FrameEvent(t, t, "g", 10, 10, "png", "0" * 64, t), ButtonEvent(t + 1, t + 1, True, 5, 5, 1)]
    out = run(KeyRedactor(frame_redactor=frames), events)
    assert typed_text(out).startswith("<NAME>")
    assert len(seen) == 2 and all("Ada Lovelace" in known for known in seen)
