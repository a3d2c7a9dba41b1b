"""Keyboard state: keysym names, produced text and modifiers from raw keycodes (pure, no X connection).

RECORD delivers device events whose ``state`` field is not reliable, so modifiers and lock state are tracked here
from the key stream itself, seeded with the pointer's modifier mask at start. A release reuses the keysym of its
press (same keycode), because with Shift released first the release would otherwise map to another keysym.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from functools import cache

from workprint.keysyms import MODIFIER_OF_KEYSYM
from workprint.models import KeyEvent

# Canonical order of the names in KeyEvent.modifiers.
MODIFIER_ORDER = ("ctrl", "alt", "shift", "super", "altgr")
_MODIFIER_OF_KEYSYM = MODIFIER_OF_KEYSYM
# Core modifier mask bits (X.ShiftMask ...) of the pointer state, for seeding.
MASK_NAMES = {1: "shift", 4: "ctrl", 8: "alt", 64: "super", 128: "altgr"}
LOCK_MASK = 2
NUM_MASK = 16

_KEYPAD_TEXT = {
    0xFF80: " ",
    0xFF89: "\t",
    0xFF8D: "\n",
    0xFFAA: "*",
    0xFFAB: "+",
    0xFFAC: ",",
    0xFFAD: "-",
    0xFFAE: ".",
    0xFFAF: "/",
    0xFFBD: "=",
    **{0xFFB0 + i: str(i) for i in range(10)},
}
_SPECIAL_TEXT = {0xFF0D: "\n", 0xFF09: "\t", 0x20AC: "\u20ac"}


_KEYSYM_GROUPS = ("miscellany", "latin1", "latin2", "latin3", "latin4", "xkb", "greek", "cyrillic", "special")


@cache
def _names() -> dict[int, str]:
    # python-xlib has the name->value tables but no XKeysymToString; the first name defined for a value wins.
    names: dict[int, str] = {}
    for group in _KEYSYM_GROUPS:
        mod = importlib.import_module(f"Xlib.keysymdef.{group}")
        for attr, value in vars(mod).items():
            if attr.startswith("XK_") and isinstance(value, int):
                names.setdefault(value, attr[3:])
    names.setdefault(0x20AC, "EuroSign")  # in X's currency group, which python-xlib does not ship
    return names


def keysym_name(keysym: int) -> str:
    """XKeysymToString: "a", "Return", "Shift_L"; Unicode keysyms as "U20AC"; unknown ones as hex."""
    if keysym == 0:
        return "NoSymbol"
    name = _names().get(keysym)
    if name:
        return name
    if 0x01000100 <= keysym <= 0x0110FFFF:
        return f"U{keysym - 0x01000000:04X}"
    return f"0x{keysym:x}"


def keysym_text(keysym: int) -> str:
    """The text a keysym types ("" for function and modifier keys)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if 0x01000100 <= keysym <= 0x0110FFFF:
        return chr(keysym - 0x01000000)
    return _SPECIAL_TEXT.get(keysym) or _KEYPAD_TEXT.get(keysym, "")


def _is_letter(keysym: int) -> bool:
    ch = keysym_text(keysym)
    return len(ch) == 1 and ch.isalpha() and ch.lower() != ch.upper()


def _upper_keysym(keysym: int) -> int:
    # A one-keysym letter binding (as xdotool makes) shifts to its capital; "ß".upper() == "SS" has none.
    upper = keysym_text(keysym).upper()
    if len(upper) != 1 or not _is_letter(keysym):
        return keysym
    code = ord(upper)
    return code if code <= 0xFF else 0x01000000 + code


def _is_keypad(keysym: int) -> bool:
    return 0xFF80 <= keysym <= 0xFFBD


CHANGE_KEYBOARD_MAPPING = 100  # core request opcode


def parse_change_keyboard_mapping(request: bytes) -> dict[int, list[int]]:
    """The keycodes a recorded ChangeKeyboardMapping request rebinds (native byte order), or {} if malformed.

    xdotool types characters missing from the layout by binding them to a spare keycode just before the key
    event and unbinding right after; recording the request keeps the table right in stream order.
    """
    if len(request) < 8 or request[0] != CHANGE_KEYBOARD_MAPPING:
        return {}
    count, first, per = request[1], request[4], request[5]
    body = request[8:]
    if per == 0 or len(body) < count * per * 4:
        return {}
    syms = memoryview(body)[: count * per * 4].cast("I")
    return {first + i: list(syms[i * per : (i + 1) * per]) for i in range(count)}


class Keyboard:
    """Tracks held modifiers and lock state; turns keycodes into (keysym name, text, modifiers)."""

    def __init__(self, keymap: Mapping[int, Sequence[int]], mask: int = 0) -> None:
        self._keymap = {k: tuple(v) for k, v in keymap.items()}
        self._held: dict[int, str] = {}
        # Modifiers already down at start: we never saw their press, so forget them on the first release.
        self._seeded = {name for bit, name in MASK_NAMES.items() if mask & bit}
        self.caps = bool(mask & LOCK_MASK)
        self.num = bool(mask & NUM_MASK)
        self._pressed: dict[int, str] = {}

    def set_keymap(self, keymap: Mapping[int, Sequence[int]]) -> None:
        """Replace the keycode table (after a MappingNotify, e.g. xdotool remapping a spare keycode)."""
        self._keymap = {k: tuple(v) for k, v in keymap.items()}

    def update_keymap(self, changes: Mapping[int, Sequence[int]]) -> None:
        """Rebind some keycodes (from a recorded ChangeKeyboardMapping)."""
        for keycode, syms in changes.items():
            self._keymap[keycode] = tuple(syms)

    def modifiers(self) -> tuple[str, ...]:
        """The modifiers held now, in canonical order."""
        active = set(self._held.values()) | self._seeded
        return tuple(m for m in MODIFIER_ORDER if m in active)

    def _keysym(self, keycode: int, mods: tuple[str, ...]) -> int:
        syms = self._keymap.get(keycode, ())
        base = 4 if "altgr" in mods and len(syms) > 4 and syms[4] else 0
        group = [s for s in syms[base : base + 2]] + [0, 0]
        lower, upper = group[0], group[1]
        if not lower:
            return 0
        if not upper:
            upper = _upper_keysym(lower)
        shifted = "shift" in mods
        if (_is_keypad(upper) and self.num) or (self.caps and _is_letter(lower)):
            shifted = not shifted
        return upper if shifted else lower

    def press(self, keycode: int) -> tuple[str, str, tuple[str, ...]]:
        """A key went down: its keysym name, the text it typed and the modifiers held before it."""
        mods = self.modifiers()
        keysym = self._keysym(keycode, mods)
        name = keysym_name(keysym)
        text = "" if ("ctrl" in mods or "alt" in mods) else keysym_text(keysym)
        self._pressed[keycode] = name
        modifier = _MODIFIER_OF_KEYSYM.get(name)
        if modifier is not None:
            self._held[keycode] = modifier
        elif name == "Caps_Lock":
            self.caps = not self.caps
        elif name == "Num_Lock":
            self.num = not self.num
        return name, text, mods

    def release(self, keycode: int) -> tuple[str, tuple[str, ...]]:
        """A key went up: the keysym name of its press and the modifiers held before the release."""
        mods = self.modifiers()
        name = self._pressed.pop(keycode, None)
        if name is None:
            name = keysym_name(self._keysym(keycode, mods))
        modifier = self._held.pop(keycode, None) or _MODIFIER_OF_KEYSYM.get(name)
        if modifier is not None:
            self._seeded.discard(modifier)
        return name, mods


__all__ = ["MODIFIER_ORDER", "Keyboard", "keysym_name", "keysym_text", "parse_change_keyboard_mapping"]


# Keys that continue a run of typing (the dataset reduces such a run to one ``write`` with the frame before its
# first key), so capture needs no new frame for them.
_TYPING_EDIT_KEYSYMS = frozenset({"BackSpace", "Shift_L", "Shift_R", "Caps_Lock", "ISO_Level3_Shift"})
_CHORD_MODIFIERS = frozenset({"ctrl", "alt", "super"})


def is_typing_key(event: object) -> bool:
    """True for a key press that types text (or edits it: Backspace, Shift) without a chord modifier."""
    if not isinstance(event, KeyEvent) or not event.press or _CHORD_MODIFIERS & set(event.modifiers):
        return False
    return (bool(event.text) and event.text.isprintable()) or event.keysym in _TYPING_EDIT_KEYSYMS
