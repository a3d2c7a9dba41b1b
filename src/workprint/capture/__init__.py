"""workprint.capture."""
