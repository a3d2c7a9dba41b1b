"""CLI commands: agent."""

from __future__ import annotations

from workprint.cli.main import app  # noqa: F401
