"""Ponder core library: configuration, request model, engines and API glue (no Ray here)."""

__version__ = "0.1.0"
