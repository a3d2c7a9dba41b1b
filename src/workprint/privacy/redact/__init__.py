"""On-device redaction of typed text, window titles and screenshots (invariant 3 of DESIGN.md).

Layout: ``detectors/`` (pure compiled regexes + checksums + word lists; ``detect(text, context)``), ``keytext``
(rebuild typed text from strokes, map values back to every stroke), ``engine`` (``redact_text``,
``redact_logged``), ``step`` (``KeyRedactor``, the privacy-gate step), ``ocr`` + ``image`` (tesseract word boxes,
``ImageRedactor``). Values become typed placeholders (``<EMAIL>``, ``<PASSWORD>``...), see ``types.TYPES``.

Use::

    redact_text("mail bob@example.com", Context(app="Thunderbird", title="Write"))  # -> "mail <EMAIL>"
    redact_logged("jonh\\b\\bhn@example.com")  # a key logger's text: spans cover the typo and Backspaces too
    PrivacyGate(steps=[ExclusionStep(rules), KeyRedactor(frame_redactor=ImageRedactor())])

Nothing here opens a socket or loads a model; the only program started is the local ``tesseract`` binary.
Benchmark: ``bench/redaction.py`` on the corpus of ``bench/corpus.py``.
"""

from __future__ import annotations

from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.engine import redact_logged, redact_text
from workprint.privacy.redact.step import KeyRedactor
from workprint.privacy.redact.types import TYPES, Context, RedactionResult, Span, placeholder

__all__ = ["TYPES", "Context", "KeyRedactor", "RedactionResult", "Span", "detect", "placeholder", "redact_logged",
           "redact_text"]  # fmt: skip
