"""Human durations for ``workprint pause`` (pure): ``30s``, ``5m``, ``2h``, ``1h30m``, ``1d``."""

from __future__ import annotations

import re

from workprint.errors import ConfigError

_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")


def parse_duration(text: str) -> int:
    """Return the duration in seconds; a malformed, zero or unit-less value raises ``ConfigError`` naming it.

    Units must come in decreasing order and at most once each (``1h30m``, not ``30m1h``) so that a typo is
    never silently read as some other length.
    """
    raw = text.strip().lower()
    if not _WHOLE.fullmatch(raw):
        raise ConfigError(f"duration: expected e.g. 30s, 5m, 2h or 1h30m, got {text!r}")
    parts = _PART.findall(raw)
    order = [list(_UNIT_S).index(unit) for _, unit in parts]
    if order != sorted(set(order)):
        raise ConfigError(f"duration: units must appear once each, largest first, got {text!r}")
    seconds = sum(int(n) * _UNIT_S[unit] for n, unit in parts)
    if seconds <= 0:
        raise ConfigError(f"duration: must be longer than zero, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly (``1h30m``, ``45s``, ``0s``) for status lines."""
    left = max(0, round(seconds))
    if left == 0:
        return "0s"
    out = []
    for unit, size in _UNIT_S.items():
        n, left = divmod(left, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


__all__ = [
    "format_duration",
    "parse_duration",
]
