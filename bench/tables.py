"""Pieces every renderer of bench/ draws its Markdown tables with."""

from __future__ import annotations

import statistics
from typing import Any

from ponder.stats import format_proportion


def header(*columns: str) -> list[str]:
    """A Markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def stamp(report: dict[str, Any]) -> str:
    """' Commit abc1234, <date>.' from the result's meta, or '' when it has none."""
    meta = report.get("meta", {})
    return f" Commit {meta['commit']}, {meta['date']}." if meta else ""


def cpu_note(report: dict[str, Any]) -> str:
    """' CPU: <model> (<flags>).' where the result's meta records it (runs since 2026-12-07)."""
    machine = report.get("meta", {}).get("machine", {})
    if "cpu_matmul_flags" not in machine:
        return ""
    flags = ", ".join(machine["cpu_matmul_flags"]) or "none of AVX2/AVX-512/VNNI/AMX"
    return f" CPU: {machine['cpu'] or 'unnamed'} ({flags})."


def k_of_n(row: dict[str, Any]) -> str:
    return format_proportion(row["k"], row["n"])


def median_range(values: list[float], digits: int = 1, scale: float = 1.0) -> str:
    """'median (lowest-highest)' of the values times scale."""
    scaled = [v * scale for v in values]
    middle = statistics.median(scaled)
    return f"{middle:.{digits}f} ({min(scaled):.{digits}f}-{max(scaled):.{digits}f})"
