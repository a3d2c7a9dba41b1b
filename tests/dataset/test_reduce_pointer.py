"""Pointer events reduce to clicks, multi-clicks, drags, scrolls and moves, with exact coordinates and frames."""

from __future__ import annotations

from typing import Any

from dataset_helpers import MS, Tape, fid

from workprint.dataset.actions import Action
from workprint.dataset.reduce import ReduceOptions, reduce_events


def act(kind: Any, t: int, t_end: int, **kw: Any) -> Action:
    kw.setdefault("app", "xterm")
    kw.setdefault("title", "~")
    return Action(kind, t, t_end, **kw)


def test_left_click_becomes_click_at_normalised_press_point_with_its_pre_action_frame() -> None:
    tape = Tape()
    t0, t1 = tape.click(453, 100)
    assert reduce_events(tape.events) == [act("click", t0, t1, x=0.453, y=0.2, frame_id=fid(t0))]


def test_right_and_middle_buttons_become_right_and_middle_clicks() -> None:
    tape = Tape()
    r0, r1 = tape.click(100, 50, button=3)
    tape.tick(1000)
    m0, m1 = tape.click(200, 100, button=2)
    assert reduce_events(tape.events) == [
        act("rightClick", r0, r1, x=0.1, y=0.1, frame_id=fid(r0)),
        act("middleClick", m0, m1, x=0.2, y=0.2, frame_id=fid(m0)),
    ]


def test_release_within_five_pixels_is_still_a_click() -> None:
    tape = Tape()
    t0 = tape.button(True, 100, 100)
    t1 = tape.button(False, 105, 95)
    assert reduce_events(tape.events) == [act("click", t0, t1, x=0.1, y=0.2, frame_id=fid(t0))]


def test_two_quick_clicks_at_one_spot_merge_into_double_click_keeping_the_first_frame() -> None:
    tape = Tape()
    t0, _ = tape.click(300, 250)
    _, t3 = tape.click(302, 251)
    assert reduce_events(tape.events) == [act("doubleClick", t0, t3, x=0.3, y=0.5, frame_id=fid(t0))]


def test_three_quick_clicks_merge_into_triple_click_and_a_fourth_starts_a_new_click() -> None:
    tape = Tape()
    t0, _ = tape.click(300, 250)
    tape.click(300, 250)
    _, t5 = tape.click(300, 250)
    t6, t7 = tape.click(300, 250)
    assert reduce_events(tape.events) == [
        act("tripleClick", t0, t5, x=0.3, y=0.5, frame_id=fid(t0)),
        act("click", t6, t7, x=0.3, y=0.5, frame_id=fid(t6)),
    ]


def test_clicks_slower_than_500_ms_or_apart_stay_single_clicks() -> None:
    tape = Tape()
    a0, a1 = tape.click(300, 250)
    tape.tick(600)
    b0, b1 = tape.click(300, 250)
    c0, c1 = tape.click(500, 250)
    assert [a.kind for a in reduce_events(tape.events)] == ["click", "click", "click"]
    assert [(a.t_ns, a.t_end_ns) for a in reduce_events(tape.events)] == [(a0, a1), (b0, b1), (c0, c1)]


def test_right_clicks_do_not_merge_into_double_click() -> None:
    tape = Tape()
    tape.click(300, 250, button=3)
    tape.click(300, 250, button=3)
    assert [a.kind for a in reduce_events(tape.events)] == ["rightClick", "rightClick"]


def test_press_move_release_becomes_drag_to_release_point_keeping_the_start() -> None:
    tape = Tape()
    t0 = tape.button(True, 100, 100)
    tape.move((150, 120), (300, 200))
    t1 = tape.button(False, 300, 200)
    actions = reduce_events(tape.events)
    assert actions == [act("dragTo", t0, t1, x=0.3, y=0.4, from_x=0.1, from_y=0.2, frame_id=fid(t0))]
    assert actions[0].to_pyautogui() == "pyautogui.moveTo(x=0.1, y=0.2)\npyautogui.dragTo(x=0.3, y=0.4, button='left')"


def test_right_button_drag_names_its_button() -> None:
    tape = Tape()
    tape.button(True, 100, 100, 3)
    tape.button(False, 400, 100, 3)
    assert reduce_events(tape.events)[0].button == "right"


def test_a_click_right_after_a_drag_is_not_merged_into_a_double_click() -> None:
    tape = Tape()
    tape.button(True, 100, 100)
    tape.button(False, 300, 200)
    tape.click(300, 200)
    assert [a.kind for a in reduce_events(tape.events)] == ["dragTo", "click"]


def test_wheel_notches_at_one_spot_merge_into_one_scroll_per_direction() -> None:
    tape = Tape()
    d = [tape.scroll(500, 250, dy=-1) for _ in range(3)]
    tape.tick(1500)
    u = [tape.scroll(500, 250, dy=1) for _ in range(2)]
    tape.tick(1500)
    right = [tape.scroll(500, 250, dx=1) for _ in range(4)]
    tape.tick(1500)
    left = tape.scroll(500, 250, dx=-2)
    assert reduce_events(tape.events) == [
        act("scroll", d[0], d[-1], x=0.5, y=0.5, amount=-3, frame_id=fid(d[0])),
        act("scroll", u[0], u[-1], x=0.5, y=0.5, amount=2, frame_id=fid(u[0])),
        act("hscroll", right[0], right[-1], x=0.5, y=0.5, amount=4, frame_id=fid(right[0])),
        act("hscroll", left, left, x=0.5, y=0.5, amount=-2, frame_id=fid(left)),
    ]


def test_scroll_code_moves_to_the_scroll_point_first_as_agentnet_does() -> None:
    tape = Tape()
    for _ in range(3):
        tape.scroll(396, 392, dy=-1)
    assert reduce_events(tape.events)[0].to_pyautogui() == "pyautogui.moveTo(x=0.396, y=0.784)\npyautogui.scroll(-3)"


def test_scroll_runs_split_on_direction_change_position_change_and_a_pause() -> None:
    tape = Tape()
    tape.scroll(500, 250, dy=-1)
    tape.scroll(500, 250, dy=1)  # direction reversed
    tape.scroll(700, 250, dy=1)  # pointer moved
    tape.tick(1200)
    tape.scroll(700, 250, dy=1)  # after a pause longer than the 1 s gap
    assert [(a.kind, a.amount) for a in reduce_events(tape.events)] == [
        ("scroll", -1),
        ("scroll", 1),
        ("scroll", 1),
        ("scroll", 1),
    ]


def test_motion_is_folded_into_the_next_click() -> None:
    tape = Tape()
    tape.move((10, 10), (200, 200), (453, 100))
    t0, t1 = tape.click(453, 100)
    assert reduce_events(tape.events) == [act("click", t0, t1, x=0.453, y=0.2, frame_id=fid(t0))]


def test_trailing_motion_away_from_the_last_action_becomes_move_to() -> None:
    tape = Tape()
    t0, t1 = tape.click(100, 100)
    tm = tape.move((300, 300), (600, 400))
    assert reduce_events(tape.events) == [
        act("click", t0, t1, x=0.1, y=0.2, frame_id=fid(t0)),
        act("moveTo", tm + MS, tm + MS, x=0.6, y=0.8),
    ]


def test_trailing_motion_that_returns_to_the_last_click_point_is_dropped() -> None:
    tape = Tape()
    tape.click(100, 100)
    tape.move((300, 300), (102, 101))
    assert [a.kind for a in reduce_events(tape.events)] == ["click"]


def test_motion_before_typing_is_dropped_not_emitted_late() -> None:
    tape = Tape()
    tape.move((300, 300))
    tape.type("ok")
    assert [a.kind for a in reduce_events(tape.events)] == ["write"]


def test_coordinates_use_the_screen_size_of_the_window_events() -> None:
    tape = Tape(screen=None)
    tape.window("xterm", "~", screen=(2000, 1000))
    t0, t1 = tape.click(500, 500)
    assert reduce_events(tape.events) == [act("click", t0, t1, x=0.25, y=0.5, frame_id=fid(t0))]


def test_coordinates_default_to_1280x800_without_window_events() -> None:
    tape = Tape(screen=None)
    t0, t1 = tape.click(640, 200)
    assert reduce_events(tape.events) == [Action("click", t0, t1, x=0.5, y=0.25, frame_id=fid(t0))]


def test_points_outside_the_screen_are_clamped_into_0_1() -> None:
    tape = Tape()
    tape.click(-20, 9000)
    a = reduce_events(tape.events)[0]
    assert (a.x, a.y) == (0.0, 1.0)


def test_back_and_forward_buttons_and_unreleased_presses_make_no_action() -> None:
    tape = Tape()
    tape.click(100, 100, button=8)
    tape.button(True, 200, 200)
    assert reduce_events(tape.events) == []


def test_frame_pairing_uses_action_t_ns_not_position_or_time_of_the_frame() -> None:
    tape = Tape()
    tape.frames = False
    t0, t1 = tape.click(100, 100)
    # A frame for another action comes first; ours is last and was grabbed long before.
    from workprint.models import FrameEvent

    tape.events.insert(1, FrameEvent(t0 - 900 * MS, 0, "other", 8, 8, "webp", "0" * 64, t0 + 7))
    tape.events.insert(2, FrameEvent(t0 - 800 * MS, 0, "ours", 8, 8, "webp", "0" * 64, t0))
    t2, t3 = tape.click(900, 100)  # no frame at all for this one
    assert reduce_events(tape.events) == [
        act("click", t0, t1, x=0.1, y=0.2, frame_id="ours"),
        act("click", t2, t3, x=0.9, y=0.2, frame_id=None),
    ]


def test_wait_is_emitted_only_when_asked_for() -> None:
    tape = Tape()
    _, t1 = tape.click(100, 100)
    tape.tick(3000)
    t2, _ = tape.click(900, 100)
    assert [a.kind for a in reduce_events(tape.events)] == ["click", "click"]
    waits = reduce_events(tape.events, ReduceOptions(wait_gap_ns=2_000 * MS))
    assert [a.kind for a in waits] == ["click", "wait", "click"]
    assert (waits[1].t_ns, waits[1].t_end_ns, waits[1].to_pyautogui()) == (
        t1,
        t2,
        f"pyautogui.sleep({(t2 - t1) / 1e9})",
    )


def test_ctrl_click_keeps_the_held_modifier_and_renders_key_down_and_up_around_it() -> None:
    tape = Tape()
    tape.key_down("Control_L")
    t0, t1 = tape.click(100, 100)
    tape.key_up("Control_L")
    actions = reduce_events(tape.events)
    assert actions == [act("click", t0, t1, x=0.1, y=0.2, frame_id=fid(t0), modifiers=("ctrl",))]
    assert actions[0].to_pyautogui() == (
        "pyautogui.keyDown('ctrl')\npyautogui.click(x=0.1, y=0.2)\npyautogui.keyUp('ctrl')"
    )


def test_ctrl_wheel_is_a_modified_scroll_and_does_not_merge_with_plain_notches() -> None:
    tape = Tape()
    tape.key_down("Control_L")
    tape.scroll(500, 250, dy=1)
    tape.scroll(500, 250, dy=1)
    tape.key_up("Control_L")
    tape.scroll(500, 250, dy=1)
    assert [(a.amount, a.modifiers) for a in reduce_events(tape.events)] == [(2, ("ctrl",)), (1, ())]


def test_shift_click_after_a_click_is_not_merged_into_a_double_click() -> None:
    tape = Tape()
    tape.click(100, 100)
    tape.key_down("Shift_L")
    tape.click(100, 100)
    tape.key_up("Shift_L")
    assert [(a.kind, a.modifiers) for a in reduce_events(tape.events)] == [("click", ()), ("click", ("shift",))]
