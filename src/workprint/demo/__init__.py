"""The demo: a small Tk form and a scripted work session driven with real X input."""
