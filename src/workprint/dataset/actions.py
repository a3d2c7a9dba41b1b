"""The action space of OpenCUA's AgentNet: PyAutoGUI calls with coordinates normalised to 0..1.

An ``Action`` is what a person did in one step (a click, a typed string, a hotkey ...), reduced from raw events by
``workprint.dataset.reduce``. ``to_pyautogui()`` renders it as the code AgentNet trajectories carry, e.g.
``pyautogui.click(x=0.4531, y=0.2375)``. Coordinates are fractions of the screen (x / screen width), rounded to four
decimals in code as AgentNet does; positional actions that start elsewhere (drag, scroll) are preceded by a
``pyautogui.moveTo`` line, as in AgentNet's own examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ActionKind = Literal[
    "click",
    "doubleClick",
    "tripleClick",
    "rightClick",
    "middleClick",
    "moveTo",
    "dragTo",
    "scroll",
    "hscroll",
    "write",
    "press",
    "hotkey",
    "wait",
]
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
_CLICKS = frozenset({"click", "doubleClick", "tripleClick", "rightClick", "middleClick"})
_POINTER = _CLICKS | {"dragTo", "scroll", "hscroll"}


def _num(v: float) -> str:
    # AgentNet writes the shortest form of the 4-decimal value (0.724, not 0.7240).
    r = round(v, 4)
    return repr(0.0 if r == 0 else r)


@dataclass(frozen=True, slots=True)
class Action:
    """One reduced step.

    ``t_ns`` is the time of the action's first input event (which its pre-action frame ``frame_id`` was taken for)
    and ``t_end_ns`` of its last. ``x``/``y`` are the click point, the drag destination, the scroll position or the
    move target; ``from_x``/``from_y`` the drag start. ``text`` is what ``write`` types, ``keys`` the key names of
    ``press`` (one) and ``hotkey`` (modifiers first), ``amount`` the wheel clicks of ``scroll`` (> 0 up) and
    ``hscroll`` (> 0 right), or the seconds of ``wait``. ``app``/``title`` are the focused window when it began.
    ``modifiers`` are keys held through a pointer action (Ctrl+click, Ctrl+wheel zoom, Shift+drag), rendered as
    ``keyDown``/``keyUp`` around it. ``break_before`` is set when a pause, exclusion, session boundary or explicit
    marker came just before this action, so an episode must not span it.
    """

    kind: ActionKind
    t_ns: int
    t_end_ns: int
    x: float | None = None
    y: float | None = None
    from_x: float | None = None
    from_y: float | None = None
    text: str = ""
    keys: tuple[str, ...] = ()
    amount: float = 0
    button: str = "left"
    frame_id: str | None = None
    app: str = ""
    title: str = ""
    break_before: bool = False
    modifiers: tuple[str, ...] = ()

    def _xy(self) -> str:
        if self.x is None or self.y is None:
            return ""
        return f"x={_num(self.x)}, y={_num(self.y)}"

    def _move_prefix(self, x: float | None, y: float | None) -> str:
        if x is None or y is None:
            return ""
        return f"pyautogui.moveTo(x={_num(x)}, y={_num(y)})\n"

    def to_pyautogui(self) -> str:
        """The PyAutoGUI code of this action (one line, or a ``moveTo`` line and the action)."""
        code = self._code()
        if not self.modifiers or self.kind not in _POINTER:
            return code
        down = "".join(f"pyautogui.keyDown({m!r})\n" for m in self.modifiers)
        up = "".join(f"\npyautogui.keyUp({m!r})" for m in reversed(self.modifiers))
        return down + code + up

    def _code(self) -> str:
        k = self.kind
        if k in _CLICKS or k == "moveTo":
            return f"pyautogui.{k}({self._xy()})"
        if k == "dragTo":
            return self._move_prefix(
                self.from_x, self.from_y
            ) + f"pyautogui.dragTo({self._xy()}, button={self.button!r})".replace("(, ", "(")
        if k in ("scroll", "hscroll"):
            return self._move_prefix(self.x, self.y) + f"pyautogui.{k}({int(self.amount)})"
        if k == "write":
            return f"pyautogui.write(message={self.text!r})"
        if k == "press":
            return f"pyautogui.press({self.keys[0]!r})" if self.keys else "pyautogui.press()"
        if k == "hotkey":
            return "pyautogui.hotkey(" + ", ".join(repr(key) for key in self.keys) + ")"
        # wait: PyAutoGUI's own sleep, so that every step is a pyautogui call.
        return f"pyautogui.sleep({round(float(self.amount), 3)!r})"


__all__ = ["ACTION_KINDS", "Action", "ActionKind"]
