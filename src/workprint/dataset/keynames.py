"""X keysym names and workprint modifier names mapped to PyAutoGUI key names (pure tables)."""

from __future__ import annotations

from workprint.keysyms import LOCK_OF_KEYSYM, MODIFIER_OF_KEYSYM

# workprint's KeyEvent.modifiers names (capture/keys.py) -> PyAutoGUI names. AltGr only selects characters, so it
# never makes a hotkey.
MODIFIER_NAMES = {"ctrl": "ctrl", "alt": "alt", "shift": "shift", "super": "win"}
HOTKEY_MODIFIERS = frozenset({"ctrl", "alt", "super"})
# Order of modifiers in a hotkey, as people write them: ctrl+alt+shift+win.
MODIFIER_ORDER = ("ctrl", "alt", "shift", "super")

# Keysyms of modifier and lock keys: they never make an action of their own inside a chord.
MODIFIER_KEYSYMS = {**MODIFIER_OF_KEYSYM, **LOCK_OF_KEYSYM}
# A modifier tapped alone does something for these (Super opens the launcher, Alt the menu bar).
LONE_TAP_MODIFIERS = {"super": "win", "alt": "alt"}

KEYSYM_TO_PYAUTOGUI = {
    "Return": "enter",
    "KP_Enter": "enter",
    "BackSpace": "backspace",
    "Escape": "esc",
    "Tab": "tab",
    "ISO_Left_Tab": "tab",
    "KP_Tab": "tab",
    "Left": "left",
    "Right": "right",
    "Up": "up",
    "Down": "down",
    "KP_Left": "left",
    "KP_Right": "right",
    "KP_Up": "up",
    "KP_Down": "down",
    "Page_Up": "pageup",
    "Prior": "pageup",
    "Page_Down": "pagedown",
    "Next": "pagedown",
    "KP_Prior": "pageup",
    "KP_Next": "pagedown",
    "Home": "home",
    "End": "end",
    "KP_Home": "home",
    "KP_End": "end",
    "Insert": "insert",
    "KP_Insert": "insert",
    "Delete": "delete",
    "KP_Delete": "delete",
    "space": "space",
    "Print": "printscreen",
    "Pause": "pause",
    "Scroll_Lock": "scrolllock",
    "Menu": "apps",
    "Caps_Lock": "capslock",
    "Num_Lock": "numlock",
    "Super_L": "win",
    "Super_R": "win",
    "Alt_L": "alt",
    "Alt_R": "alt",
    "Control_L": "ctrl",
    "Control_R": "ctrl",
    "Shift_L": "shift",
    "Shift_R": "shift",
    "minus": "-",
    "plus": "+",
    "equal": "=",
    "comma": ",",
    "period": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "apostrophe": "'",
    "grave": "`",
    "bracketleft": "[",
    "bracketright": "]",
    "KP_Add": "add",
    "KP_Subtract": "subtract",
    "KP_Multiply": "multiply",
    "KP_Divide": "divide",
    "KP_Decimal": "decimal",
    "XF86AudioMute": "volumemute",
    "XF86AudioRaiseVolume": "volumeup",
    "XF86AudioLowerVolume": "volumedown",
    "XF86AudioPlay": "playpause",
    "XF86AudioNext": "nexttrack",
    "XF86AudioPrev": "prevtrack",
    "XF86Back": "browserback",
    "XF86Forward": "browserforward",
}
# Keys whose produced text ("\n", "\t") is a key press in PyAutoGUI terms, not text to write.
TEXT_BREAKING_KEYSYMS = frozenset({"Return", "KP_Enter", "Tab", "ISO_Left_Tab", "KP_Tab", "BackSpace"})


def key_name(keysym: str) -> str:
    """The PyAutoGUI name of an X keysym: Return -> enter, F1 -> f1, T -> t, U20AC -> the character."""
    mapped = KEYSYM_TO_PYAUTOGUI.get(keysym)
    if mapped is not None:
        return mapped
    if len(keysym) == 1:
        return keysym.lower()
    if keysym.startswith("KP_") and len(keysym) == 4:
        return "num" + keysym[3]  # KP_0 .. KP_9
    if len(keysym) == 5 and keysym[0] == "U":
        try:
            return chr(int(keysym[1:], 16)).lower()
        except ValueError:
            pass
    return keysym.lower()


def hotkey_modifiers(modifiers: tuple[str, ...]) -> tuple[str, ...]:
    """PyAutoGUI names of the held modifiers in chord order (ctrl, alt, shift, win), AltGr and unknowns left out."""
    held = set(modifiers)
    return tuple(MODIFIER_NAMES[m] for m in MODIFIER_ORDER if m in held)


__all__ = [
    "HOTKEY_MODIFIERS",
    "KEYSYM_TO_PYAUTOGUI",
    "LONE_TAP_MODIFIERS",
    "MODIFIER_KEYSYMS",
    "TEXT_BREAKING_KEYSYMS",
    "hotkey_modifiers",
    "key_name",
]
