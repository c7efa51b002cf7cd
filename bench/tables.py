"""Pieces every renderer of bench/ draws its Markdown tables with."""

from __future__ import annotations

from typing import Any

from ponder.stats import format_proportion


def header(*columns: str) -> list[str]:
    """A Markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def stamp(report: dict[str, Any]) -> str:
    """' Commit abc1234, <date>.' from the result's meta, or '' when it has none."""
    meta = report.get("meta", {})
    return f" Commit {meta['commit']}, {meta['date']}." if meta else ""


def k_of_n(row: dict[str, Any]) -> str:
    return format_proportion(row["k"], row["n"])
