"""The detectors: pure functions ``(text, context) -> list[Span]`` and ``detect`` that runs them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from workprint.privacy.redact.detectors.checksums import digit_count
from workprint.privacy.redact.detectors.passwords import is_terminal, login_context, password_field, prompted
from workprint.privacy.redact.detectors.personal import (
    addresses,
    dates_of_birth,
    form_context,
    name_field,
    names,
    phone_field,
)
from workprint.privacy.redact.detectors.secrets import secrets
from workprint.privacy.redact.detectors.structured import cards, emails, ibans, ips, macs, phones, ssns
from workprint.privacy.redact.types import NO_CONTEXT, PRIORITY, Context, Span

Detector = Callable[[str, Context], Iterable[Span]]

# Order does not matter for the result (overlaps are merged by priority). Every value a numeric detector finds holds
# at least so many digits (a card 12, an SSN 9, a phone number 7, a date 4), so text with fewer skips it.
NUMERIC: tuple[tuple[int, Detector], ...] = (
    (12, cards),
    (9, ssns),
    (7, phones),
    (4, dates_of_birth),
    (2, ibans),
    (1, addresses),
)
OTHERS: tuple[Detector, ...] = (secrets, emails, ips, macs, names, prompted)
DETECTORS: tuple[Detector, ...] = tuple(d for _, d in NUMERIC) + OTHERS


def _fields(text: str, last: str = "") -> Iterator[tuple[int, int, str]]:
    """(start, end, boundary) of each Tab/newline separated field; boundary is the key that ended it."""
    start = 0
    for i, ch in enumerate(text):
        if ch in "\t\n\r":
            yield start, i, "Tab" if ch == "\t" else "Return"
            start = i + 1
    yield start, len(text), last


def field_values(text: str, ctx: Context, ended_by: str = "") -> list[Span]:
    """Whole fields that are values by where they were typed: passwords in login windows and terminals, names and
    phone numbers in the fields of a form (a key logger sees "Ettore<Tab>Morosini<Tab>3396100837")."""
    found: list[Span] = []
    prev, boundary = ctx.previous_field, ctx.previous_boundary
    form = form_context(ctx)
    if not form and not login_context(ctx) and not is_terminal(ctx):
        return found  # only forms, login windows and terminals have fields that are values by where they are
    for start, end, field_end in _fields(text, ended_by):
        field = text[start:end]
        if field.strip():
            same = (prev, boundary) == (ctx.previous_field, ctx.previous_boundary)
            fctx = ctx if same else Context(ctx.app, ctx.title, prev, boundary)
            lead = len(field) - len(field.lstrip())
            span = (start + lead, start + len(field.rstrip()))
            if password_field(field, fctx, field_end):
                found.append(Span(*span, "PASSWORD"))
            elif form and phone_field(field):
                found.append(Span(*span, "PHONE"))
            elif form and name_field(field):
                found.append(Span(*span, "NAME"))
            prev = field
        boundary = field_end
    return found


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union overlapping spans; the merged span takes the type with the highest priority."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if s.end <= s.start:
            continue
        if out and s.start < out[-1].end:
            top = out[-1]
            kind = top.type if PRIORITY[top.type] <= PRIORITY[s.type] else s.type
            out[-1] = Span(top.start, max(top.end, s.end), kind)
        else:
            out.append(s)
    return out


def detect(text: str, ctx: Context = NO_CONTEXT, ended_by: str = "") -> list[Span]:
    """All values in ``text``, merged, in order; ``ended_by`` is the key that ended the field (Tab, Return)."""
    found: list[Span] = []
    digits = digit_count(text)
    for least, detector in NUMERIC:
        if digits >= least:
            found.extend(detector(text, ctx))
    for detector in OTHERS:
        found.extend(detector(text, ctx))
    if login_context(ctx) or form_context(ctx) or ctx.previous_field or "\n" in text or "\t" in text:
        found.extend(field_values(text, ctx, ended_by))
    return merge(found)


__all__ = ["DETECTORS", "NUMERIC", "OTHERS", "Detector", "detect", "field_values", "merge"]
