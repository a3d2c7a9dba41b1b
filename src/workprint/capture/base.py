"""The seam between a capture backend and the rest of the agent.

A backend turns what the person does into ``models`` events and hands each one to a ``Sink``, synchronously, from
its own thread(s), one call at a time (calls never overlap). Input and window events come as ``sink(event, None)``;
a pre-action frame comes as ``sink(frame_event, encoded_bytes)`` immediately before the action it belongs to. The
privacy gate runs inside the sink, so a pause takes effect on the very next event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from workprint.models import Event

Sink = Callable[[Event, bytes | None], None]


class CaptureBackend(Protocol):
    """A platform capture backend: ``start()`` begins delivering events to its sink, ``stop()`` ends it."""

    def start(self) -> None:
        """Open the display and start the capture threads; raises ``CaptureError`` with one clear line."""
        ...

    def stop(self) -> None:
        """Stop the threads and close the display; idempotent, returns once no more sink calls will happen."""
        ...


__all__ = ["CaptureBackend", "Sink"]
