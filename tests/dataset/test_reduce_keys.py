"""Key events reduce to write runs, hotkeys and presses, with PyAutoGUI key names and the right frames."""

from __future__ import annotations

from typing import Any

from dataset_helpers import Tape, fid

from workprint.dataset.actions import Action
from workprint.dataset.keynames import key_name
from workprint.dataset.reduce import reduce_events


def act(kind: Any, t: int, t_end: int, **kw: Any) -> Action:
    kw.setdefault("app", "xterm")
    kw.setdefault("title", "~")
    return Action(kind, t, t_end, **kw)


def codes(tape: Tape) -> list[str]:
    return [a.to_pyautogui() for a in reduce_events(tape.events)]


def test_typing_with_shift_for_capitals_is_one_write_starting_at_the_first_shift_press() -> None:
    tape = Tape()
    t0 = tape.type("Hi there, Bob")
    actions = reduce_events(tape.events)
    assert actions == [act("write", t0, actions[0].t_end_ns, text="Hi there, Bob", frame_id=fid(t0))]
    assert actions[0].to_pyautogui() == "pyautogui.write(message='Hi there, Bob')"


def test_write_run_ends_at_the_last_key_press() -> None:
    tape = Tape()
    tape.type("ab")
    last = tape.t - 2 * tape.step  # the press of "b" (its release followed)
    assert reduce_events(tape.events)[0].t_end_ns == last


def test_backspace_inside_a_run_edits_the_text() -> None:
    tape = Tape()
    tape.type("helx")
    tape.key("BackSpace", "\b")
    tape.type("lo")
    assert codes(tape) == ["pyautogui.write(message='hello')"]


def test_backspace_outside_a_run_and_past_its_start_is_a_press() -> None:
    tape = Tape()
    tape.key("BackSpace", "\b")
    tape.click(10, 10)
    tape.type("a")
    tape.key("BackSpace", "\b")
    tape.key("BackSpace", "\b")
    assert codes(tape) == [
        "pyautogui.press('backspace')",
        "pyautogui.click(x=0.01, y=0.02)",
        "pyautogui.press('backspace')",
    ]


def test_redacted_placeholder_appends_to_the_write_run() -> None:
    tape = Tape()
    t0 = tape.type("to ")
    tape.redacted("<EMAIL>")
    tape.type(" ok")
    actions = reduce_events(tape.events)
    assert [(a.kind, a.text, a.frame_id) for a in actions] == [("write", "to <EMAIL> ok", fid(t0))]


def test_a_placeholder_for_a_capitalised_value_takes_the_frame_of_the_shift_before_it() -> None:
    # Capture gives frames only to the first key of a typing run: here the Shift press, not the redacted value.
    tape = Tape()
    t0 = tape.key_down("Shift_L")
    tape.frames = False
    tape.redacted("<NAME>")
    tape.key_up("Shift_L")
    tape.type("x")
    assert [(a.kind, a.text, a.frame_id, a.t_ns) for a in reduce_events(tape.events)] == [
        ("write", "<NAME>x", fid(t0), t0)
    ]


def test_a_run_may_start_with_a_placeholder_and_backspace_after_it_is_a_press() -> None:
    tape = Tape()
    t0 = tape.redacted("<PASSWORD>")
    tape.key("BackSpace", "\b")
    assert reduce_events(tape.events)[0] == act("write", t0, t0, text="<PASSWORD>", frame_id=fid(t0))
    assert codes(tape) == ["pyautogui.write(message='<PASSWORD>')", "pyautogui.press('backspace')"]


def test_ctrl_c_is_a_hotkey_anchored_at_the_ctrl_press() -> None:
    tape = Tape()
    t0 = tape.key_down("Control_L")
    tc = tape.key("c")
    tape.key_up("Control_L")
    assert reduce_events(tape.events) == [act("hotkey", t0, tc, keys=("ctrl", "c"), frame_id=fid(t0))]
    assert codes(tape) == ["pyautogui.hotkey('ctrl', 'c')"]


def test_ctrl_shift_t_lists_modifiers_in_chord_order_with_a_lowercase_key() -> None:
    tape = Tape()
    tape.key_down("Shift_L")
    tape.key_down("Control_L")
    tape.key("T")
    tape.key_up("Control_L")
    tape.key_up("Shift_L")
    assert codes(tape) == ["pyautogui.hotkey('ctrl', 'shift', 't')"]


def test_alt_tab_is_a_hotkey_and_super_tapped_alone_is_press_win() -> None:
    tape = Tape()
    tape.key_down("Alt_L")
    tape.key("Tab", "\t")
    tape.key_up("Alt_L")
    tape.key("Super_L")
    assert codes(tape) == ["pyautogui.hotkey('alt', 'tab')", "pyautogui.press('win')"]


def test_shift_or_ctrl_tapped_alone_make_no_action() -> None:
    tape = Tape()
    tape.key("Shift_L")
    tape.key("Control_L")
    assert codes(tape) == []


def test_special_keys_are_presses_with_pyautogui_names_and_end_the_run() -> None:
    tape = Tape()
    tape.type("ls")
    tape.key("Return", "\n")
    for sym in ("Escape", "Tab", "Left", "Page_Up", "F1", "Delete", "Home", "End", "Next"):
        tape.key(sym, "\t" if sym == "Tab" else "")
    tape.type("x")
    assert codes(tape) == [
        "pyautogui.write(message='ls')",
        "pyautogui.press('enter')",
        "pyautogui.press('esc')",
        "pyautogui.press('tab')",
        "pyautogui.press('left')",
        "pyautogui.press('pageup')",
        "pyautogui.press('f1')",
        "pyautogui.press('delete')",
        "pyautogui.press('home')",
        "pyautogui.press('end')",
        "pyautogui.press('pagedown')",
        "pyautogui.write(message='x')",
    ]


def test_shift_tab_is_a_hotkey() -> None:
    tape = Tape()
    tape.key_down("Shift_L")
    tape.key("ISO_Left_Tab")
    tape.key_up("Shift_L")
    assert codes(tape) == ["pyautogui.hotkey('shift', 'tab')"]


def test_a_special_key_press_carries_its_own_frame() -> None:
    tape = Tape()
    t0 = tape.key("Escape")
    assert reduce_events(tape.events) == [act("press", t0, t0, keys=("esc",), frame_id=fid(t0))]


def test_a_click_splits_a_write_run() -> None:
    tape = Tape()
    a = tape.type("ab")
    c0, _ = tape.click(100, 100)
    b = tape.type("cd")
    assert [(x.kind, x.text, x.frame_id) for x in reduce_events(tape.events)] == [
        ("write", "ab", fid(a)),
        ("click", "", fid(c0)),
        ("write", "cd", fid(b)),
    ]


def test_focus_change_splits_a_write_run_and_each_part_keeps_its_window() -> None:
    tape = Tape()
    tape.type("ab")
    tape.window("firefox", "Mail", pid=200)
    tape.type("cd")
    assert [(a.text, a.app, a.title) for a in reduce_events(tape.events)] == [
        ("ab", "xterm", "~"),
        ("cd", "firefox", "Mail"),
    ]


def test_a_title_change_alone_does_not_split_a_write_run() -> None:
    tape = Tape(app="gedit", title="notes")
    tape.type("ab")
    tape.window("gedit", "*notes")
    tape.type("cd")
    assert [(a.text, a.title) for a in reduce_events(tape.events)] == [("abcd", "notes")]


def test_a_marker_splits_a_run_and_marks_the_next_action() -> None:
    tape = Tape()
    tape.type("ab")
    tape.control("marker")
    tape.type("cd")
    assert [(a.text, a.break_before) for a in reduce_events(tape.events)] == [("ab", False), ("cd", True)]


def test_a_pause_drops_a_half_done_click() -> None:
    tape = Tape()
    tape.button(True, 100, 100)
    tape.control("pause")
    tape.control("resume")
    tape.button(False, 100, 100)
    tape.click(300, 300)
    actions = reduce_events(tape.events)
    assert [(a.kind, a.x, a.break_before) for a in actions] == [("click", 0.3, True)]


def test_consent_and_redaction_controls_do_not_split_a_run() -> None:
    tape = Tape()
    tape.type("ab")
    tape.control("redaction")
    tape.type("cd")
    assert codes(tape) == ["pyautogui.write(message='abcd')"]


def test_key_name_maps_x_keysyms_to_pyautogui_names() -> None:
    table = {
        "Return": "enter",
        "BackSpace": "backspace",
        "Escape": "esc",
        "Tab": "tab",
        "Left": "left",
        "Page_Up": "pageup",
        "F1": "f1",
        "F12": "f12",
        "Delete": "delete",
        "Home": "home",
        "End": "end",
        "space": "space",
        "A": "a",
        "KP_5": "num5",
        "U00E9": "é",
        "XF86AudioMute": "volumemute",
    }
    assert {k: key_name(k) for k in table} == table
