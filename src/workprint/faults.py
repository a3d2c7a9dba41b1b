"""Test-only fault points: let crash tests kill a process at an exact step (the agent inside an fsync or between
upload and acknowledgement; a key rotation between its steps).

``WORKPRINT_FAULT_POINTS="seal.fsync=0.3,upload.ack=0.3"`` makes ``fault_point("seal.fsync")`` write
``fault seal.fsync`` to stderr (one ``os.write``, so it is ordered with the caller's own output when both go to one
pipe) and then sleep 0.3 s, so a test that reads the marker can kill the process while it sits at that step.
Unset (always, outside tests) every call is one dictionary lookup.
"""

from __future__ import annotations

import os
import time

ENV = "WORKPRINT_FAULT_POINTS"

# The places crash tests can stop at: a segment's, in the order it passes them; then a key rotation's.
POINTS = (
    "journal.rotate", "seal.fsync", "seal.unlink", "upload.ack",
    "keys.rotated", "keys.listed", "keys.rewrapped", "keys.finished",
)  # fmt: skip


def _parse(raw: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, delay = part.partition("=")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown fault point {name!r} (known: {', '.join(POINTS)})")
        points[name] = float(delay or 0)
    return points


_ACTIVE = _parse(os.environ.get(ENV, ""))


def fault_point(name: str) -> None:
    """Announce and pause at ``name`` when the environment asks for it; otherwise do nothing."""
    delay = _ACTIVE.get(name)
    if delay is None:
        return
    os.write(2, f"fault {name}\n".encode())
    time.sleep(delay)
