"""Pure parts of capture: keyboard state, server clock, motion coalescing, title decoding, frame ring."""

from __future__ import annotations

import hashlib
import io
import itertools

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from workprint.capture.clock import ServerClock
from workprint.capture.frames import FrameRing, Grab, encode_bgra
from workprint.capture.keys import Keyboard, keysym_name, keysym_text, parse_change_keyboard_mapping
from workprint.capture.motion import MotionCoalescer
from workprint.capture.window import decode_compound_text, decode_text

# keycode -> keysyms, core-protocol style (unshifted, shifted, ...), as Xvfb's default "us" map has them.
KEYMAP = {
    10: [0x31, 0x21],  # 1 !
    38: [0x61, 0x41],  # a A
    50: [0xFFE1],  # Shift_L
    37: [0xFFE3],  # Control_L
    66: [0xFFE5],  # Caps_Lock
    77: [0xFF7F],  # Num_Lock
    87: [0xFF9C, 0xFFB1],  # KP_End KP_1
    36: [0xFF0D],  # Return
    108: [0xFE03],  # ISO_Level3_Shift (AltGr, as in a German layout)
    26: [0x65, 0x45, 0x65, 0x45, 0x20AC],  # e E ... EuroSign on level 3
}


def test_shift_and_capslock_choose_the_level_and_text() -> None:
    kb = Keyboard(KEYMAP)
    assert kb.press(38)[:2] == ("a", "a")
    kb.press(50)
    assert kb.press(38) == ("A", "A", ("shift",))
    assert kb.press(10)[:2] == ("exclam", "!")
    kb.release(50)
    kb.press(66)
    kb.release(66)
    assert kb.press(38)[:2] == ("A", "A")  # caps lock shifts letters...
    assert kb.press(10)[:2] == ("1", "1")  # ...but not digits
    kb.press(50)
    assert kb.press(38)[:2] == ("a", "a")  # shift undoes caps lock on letters


def test_release_carries_the_keysym_of_its_press_even_after_shift_went_up() -> None:
    kb = Keyboard(KEYMAP)
    kb.press(50)
    assert kb.press(38)[0] == "A"
    kb.release(50)
    assert kb.release(38) == ("A", ())


def test_ctrl_chords_type_no_text_and_list_modifiers_in_canonical_order() -> None:
    kb = Keyboard(KEYMAP)
    kb.press(50)
    kb.press(37)
    assert kb.press(38) == ("A", "", ("ctrl", "shift"))


def test_modifiers_down_at_start_come_from_the_mask_and_clear_on_release() -> None:
    kb = Keyboard(KEYMAP, mask=1 | 2)  # Shift held, Caps Lock on
    assert kb.modifiers() == ("shift",)
    assert kb.press(38)[:2] == ("a", "a")
    kb.release(50)
    assert kb.modifiers() == ()


def test_numlock_selects_keypad_digits_and_altgr_selects_level_three() -> None:
    kb = Keyboard(KEYMAP)
    assert kb.press(87)[:2] == ("KP_End", "")
    kb.press(77)
    assert kb.press(87)[:2] == ("KP_1", "1")
    kb.press(108)
    assert kb.press(26)[:2] == ("EuroSign", "€")
    assert kb.press(36)[:2] == ("Return", "\n")


def test_keysym_names_and_texts_follow_xlib() -> None:
    assert [keysym_name(k) for k in (0x61, 0xFF0D, 0xFFE1, 0x1000263, 0)] == [
        "a",
        "Return",
        "Shift_L",
        "U0263",
        "NoSymbol",
    ]
    assert [keysym_text(k) for k in (0xE9, 0x1000263, 0xFFE1)] == ["é", "ɣ", ""]


def test_server_clock_maps_ms_to_ns_across_the_32_bit_wrap() -> None:
    clock = ServerClock.from_round_trip(5_000_000_000, 4_294_967_000, 5_000_000_002)
    assert clock.offset_ns == 5_000_000_001 - 4_294_967_000 * 1_000_000
    after_wrap = ServerClock(clock.offset_ns - 10**12, 4_294_967_000)  # dated in the past, so nothing is clamped
    t0 = after_wrap.to_ns(4_294_967_000)
    assert after_wrap.to_ns(200) - t0 == 496 * 1_000_000
    assert after_wrap.to_ns(4_294_967_100) - t0 == 100 * 1_000_000  # a late event from before the wrap


@given(st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(-5, 5), st.integers(-5, 5)), min_size=1))
def test_motion_path_keeps_the_rate_cap_and_ends_at_the_last_point(steps: list[tuple[int, int, int]]) -> None:
    coalescer = MotionCoalescer(hz=20, max_points=10_000)
    t, x, y = 0, 0, 0
    for dt, dx, dy in steps:
        t, x, y = t + dt, x + dx, y + dy
        assert coalescer.add(t, 0, x, y) is None
    event = coalescer.flush()
    assert event is not None and event.path[-1] == (t, x, y) and event.t_ns == event.path[0][0]
    samples = event.path[:-1]
    assert all(b[0] - a[0] >= 50_000_000 for a, b in itertools.pairwise(samples))
    assert coalescer.flush() is None


def test_titles_decode_by_property_type() -> None:
    assert (
        decode_compound_text(b"\xdcberblick \x1b%G\xe2\x80\x93\x1b%@ na\xefve \x1b$(BF|K\\") == "Überblick – naïve 日本"
    )
    assert decode_compound_text(b"x \x1b-L\xbf\x1b-A \xe9") == "x П é"
    assert decode_text("STRING", "Größe".encode()) == "Größe"  # UTF-8 bytes in STRING, as many apps do
    assert decode_text("STRING", b"Gr\xf6\xdfe") == "Größe"
    assert decode_text("UTF8_STRING", "日本 ✓".encode()) == "日本 ✓"


def test_frame_ring_returns_the_last_grab_strictly_before_an_action_and_encodes_once() -> None:
    ring = FrameRing(size=3)
    pixels = bytes([0, 0, 255, 0]) * (8 * 4)  # BGRX red
    grabs = [Grab(t, t, 8, 4, pixels) for t in (10, 20, 30, 40)]
    for grab in grabs:
        ring.add(grab)
    assert ring.before(10) is None  # the first one fell out of the ring
    assert ring.before(30) is grabs[1] and ring.before(31) is grabs[2] and ring.before(99) is grabs[3]
    event, data = grabs[2].frame_event(31, "jpeg", 80)
    again, data2 = grabs[2].frame_event(35, "jpeg", 80)
    assert data is data2 and event.frame_id == again.frame_id and again.action_t_ns == 35
    assert event.sha256 == hashlib.sha256(data).hexdigest() and event.frame_id == event.sha256[:16]
    assert Image.open(io.BytesIO(data)).convert("RGB").getpixel((4, 2))[0] > 200
    assert encode_bgra(pixels, 8, 4, "webp", 80)[8:12] == b"WEBP"


def test_a_recorded_keyboard_remap_rebinds_keycodes_in_stream_order() -> None:
    kb = Keyboard(KEYMAP)
    syms = memoryview(bytearray(8)).cast("I")
    syms[0], syms[1] = 0xDF, 0xDF  # ssharp on both levels, as xdotool binds it
    # ChangeKeyboardMapping: opcode, 1 keycode, length 4 words, first keycode 200, 2 keysyms per keycode.
    changes = parse_change_keyboard_mapping(bytes([100, 1, 4, 0, 200, 2, 0, 0]) + syms.tobytes())
    assert changes == {200: [0xDF, 0xDF]}
    kb.update_keymap(changes)
    kb.press(50)
    assert kb.press(200)[:2] == ("ssharp", "ß")
    assert parse_change_keyboard_mapping(b"\x64\x01") == {}
