"""Small statistics used wherever accuracy is reported: k/n with a 95 % interval."""

from __future__ import annotations

import math


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n (sensible at 0 and n too)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(k: int, n: int) -> dict[str, float | int | list[float]]:
    """k, n, k/n and its interval, as a JSON-ready dict."""
    low, high = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "accuracy": k / n if n else 0.0,
        "ci95": [round(low, 4), round(high, 4)],
    }


def format_proportion(k: int, n: int) -> str:
    """'37/100 = 0.370 [0.28, 0.47]'."""
    low, high = wilson_interval(k, n)
    return f"{k}/{n} = {k / n if n else 0:.3f} [{low:.2f}, {high:.2f}]"
