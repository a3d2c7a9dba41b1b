"""X keysym names of the modifier and lock keys, shared by capture (modifier state) and the dataset (chords)."""

from __future__ import annotations

# The modifier each modifier key sets; KeyEvent.modifiers uses these names.
MODIFIER_OF_KEYSYM: dict[str, str] = {
    "Shift_L": "shift",
    "Shift_R": "shift",
    "Control_L": "ctrl",
    "Control_R": "ctrl",
    "Alt_L": "alt",
    "Alt_R": "alt",
    "Meta_L": "alt",
    "Meta_R": "alt",
    "Super_L": "super",
    "Super_R": "super",
    "Hyper_L": "super",
    "Hyper_R": "super",
    "ISO_Level3_Shift": "altgr",
    "Mode_switch": "altgr",
}
# Lock keys: they change what later keys type and never make an action of their own.
LOCK_OF_KEYSYM: dict[str, str] = {"Caps_Lock": "capslock", "Num_Lock": "numlock", "Shift_Lock": "capslock"}

__all__ = ["LOCK_OF_KEYSYM", "MODIFIER_OF_KEYSYM"]
