"""workprint.audit."""
