"""Ponder's benchmarks: `python -m bench` runs them and regenerates BENCHMARKS.md."""
