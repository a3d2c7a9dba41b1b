"""workprint.privacy."""
