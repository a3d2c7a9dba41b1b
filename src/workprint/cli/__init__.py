"""workprint.cli."""
