"""workprint: consent-first recording of computer use, turned into training data for computer-use agents."""

__version__ = "0.1.0"
