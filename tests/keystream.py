"""Key press/release pairs as capture emits them, with increasing timestamps (shared by the redaction tests)."""

from __future__ import annotations

import itertools

from workprint.models import Event, KeyEvent


class KeyStream:
    """``type("ab\\bc\\t")`` -> press/release pairs; ``\\b`` is BackSpace, ``\\t`` Tab, ``\\n`` Return. With
    ``shift_caps`` an upper-case letter is typed inside a Shift press, as a keyboard does."""

    def __init__(self, start_ns: int, step_ns: int, *, shift_caps: bool = False) -> None:
        self.t = itertools.count(start_ns, step_ns)
        self.shift_caps = shift_caps

    def now(self) -> int:
        return next(self.t)

    def key(self, keysym: str, text: str = "", mods: tuple[str, ...] = ()) -> list[Event]:
        code = 9 + (ord(text[0]) % 200 if text else sum(map(ord, keysym)) % 200)
        t1, t2 = self.now(), self.now()
        return [KeyEvent(t1, t1, True, code, keysym, text, mods), KeyEvent(t2, t2, False, code, keysym, text, mods)]

    def type(self, s: str) -> list[Event]:
        out: list[Event] = []
        for ch in s:
            if ch == "\b":
                out += self.key("BackSpace")
            elif ch == "\t":
                out += self.key("Tab", "\t")
            elif ch == "\n":
                out += self.key("Return", "\n")
            elif self.shift_caps and ch.isupper():
                out += [*self.key("Shift_L")[:1], *self.key(ch, ch, ("shift",)), *self.key("Shift_L")[1:]]
            else:
                out += self.key(ch if ch.isalnum() else "x", ch)
        return out
