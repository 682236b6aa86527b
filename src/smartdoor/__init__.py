"""Smart Door: one-time-code door lock backend."""

__version__ = "0.1.0"
