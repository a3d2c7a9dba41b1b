"""Rebuild typed text from key strokes, remembering which strokes made each character (pure).

A key logger sees ``jonh<BS><BS>hn@example.com``; a detector must see ``john@example.com``, and redaction must then
replace every stroke of the value, the mistyped and deleted ones included, or the value leaks through them.
``TextBuilder`` applies edit operations to a buffer of cells, each cell holding the indices of the strokes that made
it. Deleting a cell hands its strokes (and the deleting key's) to the character typed next at the same place, or,
when the cursor moves away first, to the neighbouring cell. Strokes whose text vanished entirely are still seen by
detection on the raw stream (every typed character in stroke order), see ``sources_of_values``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import NamedTuple

from workprint.privacy.redact.types import Span

MIN_ERASED_VALUE = 4

# Edit operations a stroke can perform.
CHAR, BACKSPACE, DELETE, WORD_BACKSPACE, WORD_DELETE = "char", "bs", "del", "wbs", "wdel"
LEFT, RIGHT, WORD_LEFT, WORD_RIGHT, HOME, END = "left", "right", "wleft", "wright", "home", "end"


class Rebuilt(NamedTuple):
    """The final text with, per character, the strokes behind it; and the raw stream of typed characters.

    ``deleted_by`` maps each erased stroke to the stroke that erased it; ``erased`` is how many there are. (A named
    tuple rather than a frozen dataclass: one is built per snippet, and building a frozen dataclass costs more.)
    """

    text: str
    sources: tuple[tuple[int, ...], ...]
    raw_text: str
    raw_sources: tuple[int, ...]
    deleted_by: dict[int, int]
    erased: int


@dataclass(slots=True)
class TextBuilder:
    """A line-editor model: a buffer of (char, strokes) cells and a cursor."""

    chars: list[str] = field(default_factory=list)
    cells: list[list[int]] = field(default_factory=list)
    cursor: int = 0
    pending: list[int] = field(default_factory=list)
    raw: list[tuple[str, int]] = field(default_factory=list)
    deleted_by: dict[int, int] = field(default_factory=dict)

    def apply(self, index: int, op: str, char: str = "") -> None:
        """Apply one stroke's operation."""
        if op == CHAR:
            self.chars.insert(self.cursor, char)
            self.cells.insert(self.cursor, [*self.pending, index])
            self.pending = []
            self.cursor += 1
            self.raw.append((char, index))
        elif op in (BACKSPACE, WORD_BACKSPACE):
            n = 1 if op == BACKSPACE else self._word_len(-1)
            for _ in range(min(n, self.cursor)):
                self.cursor -= 1
                self.chars.pop(self.cursor)
                gone = self.cells.pop(self.cursor)
                self.deleted_by.update(dict.fromkeys(gone, index))
                self.pending[:0] = gone
            if n and self.pending:
                self.pending.append(index)
        elif op in (DELETE, WORD_DELETE):
            n = 1 if op == DELETE else self._word_len(1)
            for _ in range(min(n, len(self.chars) - self.cursor)):
                self.chars.pop(self.cursor)
                gone = self.cells.pop(self.cursor)
                self.deleted_by.update(dict.fromkeys(gone, index))
                self.pending.extend(gone)
            if self.pending:
                self.pending.append(index)
        else:
            self._settle()
            self.cursor = _move(op, self.cursor, self.chars)

    def _word_len(self, direction: int) -> int:
        i, n = self.cursor, 0
        back = 1 if direction < 0 else 0  # look at the character before the cursor when going left

        def step(j: int) -> int:
            return j - back

        while 0 <= step(i) < len(self.chars) and self.chars[step(i)].isspace():
            i += direction
            n += 1
        while 0 <= step(i) < len(self.chars) and not self.chars[step(i)].isspace():
            i += direction
            n += 1
        return n

    def _settle(self) -> None:
        # Deleted strokes with no retyped character join the neighbour, so a value's span still covers them.
        if not self.pending:
            return
        if self.cursor > 0:
            self.cells[self.cursor - 1].extend(self.pending)
        elif self.cells:
            self.cells[0][:0] = self.pending
        else:
            return  # nothing left to attach to: the raw stream still holds the typed characters
        self.pending = []

    def result(self) -> Rebuilt:
        """The rebuilt text (after attaching any pending deleted strokes)."""
        self._settle()
        return Rebuilt(
            text="".join(self.chars),
            sources=tuple(tuple(sorted(c)) for c in self.cells),
            raw_text="".join(c for c, _ in self.raw),
            raw_sources=tuple(i for _, i in self.raw),
            deleted_by=dict(self.deleted_by),
            erased=len(self.deleted_by),
        )


def _move(op: str, cursor: int, chars: list[str]) -> int:
    if op == LEFT:
        return max(0, cursor - 1)
    if op == RIGHT:
        return min(len(chars), cursor + 1)
    if op == HOME:
        return 0
    if op == END:
        return len(chars)
    if op == WORD_LEFT:
        while cursor > 0 and chars[cursor - 1].isspace():
            cursor -= 1
        while cursor > 0 and not chars[cursor - 1].isspace():
            cursor -= 1
        return cursor
    if op == WORD_RIGHT:
        while cursor < len(chars) and chars[cursor].isspace():
            cursor += 1
        while cursor < len(chars) and not chars[cursor].isspace():
            cursor += 1
        return cursor
    return cursor


def rebuild(ops: Iterable[tuple[int, str, str]]) -> Rebuilt:
    """Rebuild from ``(stroke index, op, char)`` triples."""
    b = TextBuilder()
    for index, op, char in ops:
        b.apply(index, op, char)
    return b.result()


def ops_from_logged_text(text: str) -> list[tuple[int, str, str]]:
    """A key logger's text, where U+0008 is a Backspace press and U+007F a Delete press, as stroke operations."""
    out: list[tuple[int, str, str]] = []
    for i, ch in enumerate(text):
        if ch == "\b":
            out.append((i, BACKSPACE, ""))
        elif ch == "\x7f":
            out.append((i, DELETE, ""))
        else:
            out.append((i, CHAR, ch))
    return out


# One-stroke cells ``(i,)`` made once: a slice of them is far cheaper than building each.
_ONE_STROKE = tuple((i,) for i in range(4096))


def rebuild_logged(text: str) -> Rebuilt:
    """``rebuild(ops_from_logged_text(text))``, fast: with only Backspaces the cursor never leaves the end, so the
    text between two Backspaces is appended whole, and each cell's strokes come out in order without sorting."""
    if "\x7f" in text:
        return rebuild(ops_from_logged_text(text))
    chars: list[str] = []
    cells: list[tuple[int, ...]] = []
    pending: list[int] = []
    raw_sources: list[int] = []
    deleted_by: dict[int, int] = {}
    pos = 0  # index in ``text`` of the stroke at hand
    for n, piece in enumerate(text.split("\b")):
        if n:  # a Backspace came before this piece
            if chars:
                chars.pop()
                gone = cells.pop()
                for g in gone:
                    deleted_by[g] = pos
                pending[:0] = gone
                pending.append(pos)
            elif pending:
                pending.append(pos)
            pos += 1
        if not piece:
            continue
        start, end = pos, pos + len(piece)
        raw_sources.extend(range(start, end))
        if pending:
            chars.append(piece[0])
            cells.append((*pending, start))
            pending = []
            start += 1
            piece = piece[1:]
        chars.extend(piece)
        cells.extend(_ONE_STROKE[start:end] if end <= len(_ONE_STROKE) else zip(range(start, end)))
        pos = end
    if pending and cells:
        cells[-1] = (*cells[-1], *pending)
    return Rebuilt(
        text="".join(chars),
        sources=tuple(cells),
        raw_text=text.replace("\b", ""),
        raw_sources=tuple(raw_sources),
        deleted_by=deleted_by,
        erased=len(deleted_by),
    )


def sources_of_values(rebuilt: Rebuilt, detect: Callable[[str], list[Span]]) -> list[tuple[str, frozenset[int]]]:
    """Detect on the rebuilt text and on the raw stream; return each value's type and every stroke behind it."""
    values: list[tuple[str, frozenset[int]]] = []
    for span in detect(rebuilt.text):
        strokes = chain.from_iterable(rebuilt.sources[span.start : span.end])
        values.append((span.type, frozenset(strokes)))
    # Fewer than 4 erased characters cannot have held a whole value on their own, and the rebuilt text already
    # covers the strokes of typos fixed in place; skipping the second pass keeps key-logger text fast.
    if rebuilt.raw_text != rebuilt.text and rebuilt.erased >= MIN_ERASED_VALUE:
        for span in detect(rebuilt.raw_text):
            typed = set(rebuilt.raw_sources[span.start : span.end])
            deleters = {rebuilt.deleted_by[i] for i in typed if i in rebuilt.deleted_by}
            values.append((span.type, frozenset(typed | deleters)))
    return values
