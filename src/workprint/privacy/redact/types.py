"""Value types of the redactor: what a detection is, the context it runs in, and what redaction returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# Every kind of value the redactor replaces; each becomes the placeholder ``<TYPE>``.
TYPES = (
    "EMAIL",
    "PHONE",
    "CARD",
    "SSN",
    "IBAN",
    "IP",
    "MAC",
    "DATE_OF_BIRTH",
    "ADDRESS",
    "NAME",
    "SECRET",
    "PASSWORD",
)
# When two detections overlap, the merged span takes the type that comes first here (a secret inside a URL is
# reported as a secret, a card number is not a phone number).
PRIORITY = {
    t: i
    for i, t in enumerate(
        (
            "SECRET",
            "PASSWORD",
            "CARD",
            "IBAN",
            "SSN",
            "EMAIL",
            "MAC",
            "IP",
            "DATE_OF_BIRTH",
            "PHONE",
            "ADDRESS",
            "NAME",
        )
    )
}


def placeholder(kind: str) -> str:
    """The typed placeholder that replaces a value of ``kind`` (``<EMAIL>``...)."""
    return f"<{kind}>"


class Span(NamedTuple):
    """A detected value: ``text[start:end]`` is of ``type``. (Named tuples: detection makes several per snippet, and
    one costs half of what a frozen dataclass does to build.)"""

    start: int
    end: int
    type: str


@dataclass(frozen=True, slots=True)
class Context:
    """Where the text was typed or shown.

    ``previous_field`` is the text of the field typed just before this one in the same window, and
    ``previous_boundary`` the key that ended it (``"Tab"`` or ``"Return"``): a login form's password follows its
    user name and a Tab; a terminal's password follows a ``sudo`` line and Enter.
    """

    app: str = ""
    title: str = ""
    previous_field: str = ""
    previous_boundary: str = ""


class RedactionResult(NamedTuple):
    """Redacted text and the spans, in the input's coordinates, that were replaced."""

    text: str
    spans: tuple[Span, ...]


NO_CONTEXT = Context()
