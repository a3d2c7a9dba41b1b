"""The redaction engine: detect values in text (or in a key logger's text) and replace them with placeholders."""

from __future__ import annotations

from workprint.privacy.redact.detectors import detect, merge
from workprint.privacy.redact.keytext import rebuild_logged, sources_of_values
from workprint.privacy.redact.types import NO_CONTEXT, PRIORITY, Context, RedactionResult, Span, placeholder

# Beyond this a snippet is not typed text; callers refuse it rather than spend seconds on it.
MAX_TEXT = 1_000_000


def replace_spans(text: str, spans: list[Span]) -> str:
    """``text`` with each (merged, ordered) span replaced by its placeholder."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(placeholder(s.type))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def redact_text(text: str, context: Context = NO_CONTEXT) -> RedactionResult:
    """Redact plain text (a title, a pasted snippet, OCR output); spans are in ``text``'s coordinates."""
    spans = detect(text, context)
    return RedactionResult(replace_spans(text, spans), tuple(spans))


def redact_logged(text: str, context: Context = NO_CONTEXT) -> RedactionResult:
    """Redact a key logger's text, where U+0008 is a Backspace press (U+007F Delete).

    Spans are in the input's coordinates and cover every character of each value from its first stroke to its
    last, deleted characters and the Backspaces that deleted them included; the text has each span replaced.
    """
    if "\b" not in text and "\x7f" not in text:
        return redact_text(text, context)
    rebuilt = rebuild_logged(text)
    spans = [
        Span(min(strokes), max(strokes) + 1, kind)
        for kind, strokes in sources_of_values(rebuilt, lambda t: detect(t, context))
        if strokes
    ]
    merged = merge(spans)
    return RedactionResult(replace_spans(text, merged), tuple(merged))


__all__ = ["MAX_TEXT", "PRIORITY", "redact_logged", "redact_text", "replace_spans"]
