"""workprint.server."""
