"""workprint.spool."""
