"""workprint.transport."""
