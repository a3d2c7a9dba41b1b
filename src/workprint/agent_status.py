"""What a running agent tells ``workprint status``: its own cost and its frame backlog, in a small file of its home.

The agent rewrites ``agent-status.json`` every few seconds (whole, by rename) and removes it when it stops; a
reader treats a file whose process is gone or that is older than ``STALE_S`` as no running agent. It holds counters
only, never recorded data.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["ProcessUsage", "clear_agent_status", "read_agent_status", "write_agent_status"]

FILE = "agent-status.json"
STALE_S = 30.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ProcessUsage:
    """CPU of this process and its reaped children (% of one core since the last sample) and its RSS (MB)."""

    def __init__(self) -> None:
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system, time.monotonic()

    def sample(self) -> tuple[float, float]:
        """(CPU % of one core since the previous sample, resident memory in MB now)."""
        cpu, at = self._now()
        (cpu0, at0), self._last = self._last, (cpu, at)
        percent = 100.0 * (cpu - cpu0) / (at - at0) if at > at0 else 0.0
        try:
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE / 1e6
        except (OSError, IndexError, ValueError):
            rss = 0.0
        return percent, rss


def write_agent_status(home: Path, counters: dict[str, float]) -> None:
    """Replace the status file with ``counters``, this process's id and the time."""
    path = home / FILE
    tmp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "updated": time.time(), **counters}))
    os.replace(tmp, path)


def clear_agent_status(home: Path) -> None:
    """Remove the status file (the agent stopped)."""
    (home / FILE).unlink(missing_ok=True)


def read_agent_status(home: Path, now: float | None = None) -> dict[str, Any] | None:
    """The running agent's counters, or None when no agent runs (no file, a dead process, or a stale file)."""
    try:
        data = json.loads((home / FILE).read_text())
        pid, updated = int(data["pid"]), float(data["updated"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - updated > STALE_S:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return dict(data)
