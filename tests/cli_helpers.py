"""Running ``workprint`` in process, as the shell would, for tests (``tests/`` is on ``sys.path`` via its conftest)."""

from __future__ import annotations

import sys

import pytest

from workprint.cli.main import main


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``workprint ARGS…`` in this process; return its exit status."""
    monkeypatch.setattr(sys, "argv", ["workprint", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
