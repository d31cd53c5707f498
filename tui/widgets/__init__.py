"""The app's widgets, one family per module."""
