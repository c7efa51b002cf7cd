"""Ponder's benchmarks: `python -m bench` runs them and regenerates the tables of BENCHMARKS.md
and RELIABILITY.md."""
