"""Importers: recordings made with other tools become workprint segments through the same privacy gate.

- ``ducktrack``: DuckTrack and OpenCUA AgentNetTool recordings (``events.jsonl`` + ``metadata.json``, AgentNetTool's
  ``top_window.jsonl``, frames from the screen video via PyAV) -> workprint events.
- ``segments``: events -> privacy gate (exclusions, redaction) -> segments of at most 60 s, ready to seal.
"""

from workprint.importers.ducktrack import Recording, read_recording
from workprint.importers.segments import gate_and_segment

__all__ = ["Recording", "gate_and_segment", "read_recording"]
