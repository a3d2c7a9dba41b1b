"""KeyRedactor and the accessibility bus's reports of a focused password field (``ControlEvent(SECRET_FIELD)``).

The reports come from another thread, stamped on arrival: a little after focus moved, possibly after the first keys
of the field. Every key of a field typed while a secret field had focus becomes one ``<PASSWORD>``, deleted strokes
included; anything in doubt is redacted."""

from __future__ import annotations

from keystream import KeyStream
from workprint.models import SECRET_FIELD, ButtonEvent, ControlEvent, Event, FrameEvent, KeyEvent, WindowEvent
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.redact import KeyRedactor

# A window that says nothing about logging in: only the bus can tell the field is secret.
APP, TITLE = "Settings", "Account"


class Stream(KeyStream):
    """Key presses and releases, windows, clicks and bus reports with increasing timestamps (10 ms apart)."""

    def __init__(self) -> None:
        super().__init__(1_000_000_000, 10_000_000, shift_caps=True)

    def window(self) -> Event:
        t = self.now()
        return WindowEvent(t, t, APP, TITLE, 1, 0, 0, 800, 600, 1280, 800)

    def bus(self, state: str, t_ns: int | None = None) -> Event:
        t = self.now() if t_ns is None else t_ns
        return ControlEvent(t, t, SECRET_FIELD, (("state", state),))

    def click(self) -> list[Event]:
        t1, t2 = self.now(), self.now()
        return [ButtonEvent(t1, t1, True, 5, 5, 1), ButtonEvent(t2, t2, False, 5, 5, 1)]


def run(events: list[Event], step: KeyRedactor | None = None) -> list[Item]:
    step = step or KeyRedactor()
    out: list[Item] = []
    for e in events:
        out += step.feed((e, b"img" if isinstance(e, FrameEvent) else None))
    return out + step.flush()


def typed(items: list[Item]) -> str:
    return "".join(e.text for e, _ in items if isinstance(e, KeyEvent) and e.press)


def keysyms(items: list[Item]) -> list[str]:
    return [e.keysym for e, _ in items if isinstance(e, KeyEvent)]


def test_a_report_arriving_after_the_first_keys_redacts_the_whole_field_typos_included() -> None:
    s = Stream()
    events = [s.window(), *s.type("bob\t")]
    first = s.type("hun")  # typed before the bus's report arrived
    events += [*first, s.bus("enter"), *s.type("tx\bter2\n")]
    out = run(events)
    assert typed(out) == "bob\t<PASSWORD>\n"
    assert not {"h", "u", "n", "t", "x", "e", "r", "2", "BackSpace"} & set(keysyms(out))
    presses = [e for e, _ in out if isinstance(e, KeyEvent) and e.press and e.keysym == "Redacted"]
    assert presses[0].t_ns == first[0].t_ns  # the placeholder stands where the field began


def test_keys_typed_while_a_secret_field_is_focused_are_one_password_and_the_next_field_stays() -> None:
    s = Stream()
    events = [s.window(), s.bus("enter"), *s.type("Pa5sword"), s.bus("leave"), *s.click(), *s.type("hello world\n")]
    out = run(events)
    assert typed(out) == "<PASSWORD>hello world\n"
    assert "Shift_L" not in keysyms(out)  # modifiers of the password go too: they tell where its capitals were


def test_a_field_typed_after_the_leave_is_kept() -> None:
    s = Stream()
    events = [s.window(), s.bus("enter"), *s.type("s3cret\t"), s.bus("leave"), *s.type("bob\n")]
    assert typed(run(events)) == "<PASSWORD>\tbob\n"


def test_keys_stamped_before_a_late_leave_are_redacted() -> None:
    s = Stream()
    events = [s.window(), s.bus("enter"), *s.type("s3cret\t")]
    early = s.type("x")  # typed in the next field, but before the bus said focus left the secret one
    late_leave = s.bus("leave")
    events += [late_leave, *early, *s.type("yz\n")]
    assert typed(run(events)) == "<PASSWORD>\t<PASSWORD>\n"


def test_a_report_that_is_not_a_clear_leave_counts_as_enter() -> None:
    s = Stream()
    t = s.now()
    events = [s.window(), ControlEvent(t, t, SECRET_FIELD, (("state", "???"),)), *s.type("hunter2\n")]
    assert typed(run(events)) == "<PASSWORD>\n"


def test_reports_do_not_end_a_field_and_travel_in_order_with_it() -> None:
    s = Stream()
    events = [s.window(), *s.type("ab"), s.bus("enter"), *s.type("cd"), s.bus("leave")]
    out = run(events)
    kinds = [e.KIND for e, _ in out]
    assert kinds == ["window", "key", "key", "control", "control"]  # one placeholder pair, then both reports
    assert typed(out) == "<PASSWORD>"


def test_without_reports_the_same_field_is_kept() -> None:
    s = Stream()
    assert typed(run([s.window(), *s.type("alice\t"), *s.type("hunter2\n")])) == "alice\thunter2\n"


def test_the_secret_state_outlives_a_flush_so_a_pause_does_not_end_it() -> None:
    s = Stream()
    step = KeyRedactor()
    out = run([s.window(), s.bus("enter"), *s.type("abc")], step)  # run() flushes, as a pause does
    out += run(s.type("def\n"), step)
    assert typed(out) == "<PASSWORD><PASSWORD>\n"


def test_frames_held_with_a_secret_field_are_searched_for_its_text() -> None:
    s = Stream()
    seen: list[list[str]] = []

    def frames(event: FrameEvent, data: bytes, title: str, known: object) -> bytes:
        seen.append(list(known))  # type: ignore[call-overload]
        return data

    t = s.now()
    frame = FrameEvent(t, t, "f1", 10, 10, "png", "0" * 64, t)
    gate = PrivacyGate(steps=[KeyRedactor(frame_redactor=frames)])
    out: list[Item] = []
    for e in [s.window(), s.bus("enter"), *s.type("qw\berty"), frame, *s.type("\n")]:
        out += gate.admit(e, b"img" if isinstance(e, FrameEvent) else None)
    out += gate.flush()
    assert typed(out) == "<PASSWORD>\n"
    assert "qerty" in seen[-1]


def test_an_enter_stamped_after_the_tab_that_moved_focus_belongs_to_the_next_field_whatever_arrives_first() -> None:
    # Capture delivers a key after taking a frame, so the bus's report can overtake the Tab that caused it.
    s = Stream()
    events = [s.window(), *s.type("alice")]
    tab = s.key("Tab", "\t")
    enter = s.bus("enter")  # stamped after the Tab...
    events += [enter, *tab, *s.type("hunter2\n")]  # ...but arrives before it
    assert typed(run(events)) == "alice\t<PASSWORD>\n"


def test_an_enter_stamped_after_a_click_into_the_field_spares_the_field_before_the_click() -> None:
    s = Stream()
    events = [s.window(), *s.type("alice"), *s.click(), s.bus("enter"), *s.type("hunter2"), *s.click()]
    assert typed(run(events)) == "alice<PASSWORD>"


def test_an_enter_arriving_after_later_keys_still_takes_the_whole_field() -> None:
    s = Stream()
    events = [s.window(), *s.type("hunter")]
    enter = s.bus("enter")  # stamped while the field was typed...
    two = s.type("2")
    events += [*two, enter, *s.type("\n")]  # ...arriving after a later key, before the Return
    assert typed(run(events)) == "<PASSWORD>\n"
