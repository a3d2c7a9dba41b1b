"""workprint.store."""
