"""workprint.portal."""
