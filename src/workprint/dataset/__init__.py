"""workprint.dataset."""
