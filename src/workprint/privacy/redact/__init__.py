"""On-device redaction of typed text, window titles and screenshots (see ``engine``, ``step``, ``image``)."""

from __future__ import annotations

from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.engine import redact_logged, redact_text
from workprint.privacy.redact.step import KeyRedactor
from workprint.privacy.redact.types import TYPES, Context, RedactionResult, Span, placeholder

__all__ = ["TYPES", "Context", "KeyRedactor", "RedactionResult", "Span", "detect", "placeholder", "redact_logged",
           "redact_text"]  # fmt: skip
