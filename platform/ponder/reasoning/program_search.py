"""Program search: every one- and two-operation expression over a problem's quantities.

The model samples a handful of programs and often never writes the right one (it adds the
irrelevant number, or writes the memorised expression of a familiar story). Search puts
every short program over the given quantities beside the sampled ones, as equation-tree
solvers enumerate theirs, and the answer ranker (`ranker.py`) chooses among them with the
model's votes as evidence. No decoder call and no generated token: search is arithmetic.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ponder.reasoning.plan import format_number

MAX_SEARCH_QUANTITIES = 5  # quantities beyond this are too many to combine two at a time
_COMMUTATIVE = ("+", "*")


@dataclass(frozen=True)
class SearchedProgram:
    """An expression over the problem's quantities, its value, and which it uses."""

    text: str
    value: float
    positions: tuple[int, ...]  # the quantities used, by their position in the problem
    operations: int


def _apply(operator: str, a: float, b: float) -> float | None:
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:
        return None
    return a / b


def _pairs(quantities: tuple[float, ...]) -> list[SearchedProgram]:
    out = []
    for i, j in itertools.permutations(range(len(quantities)), 2):
        for operator in ("+", "-", "*", "/"):
            if operator in _COMMUTATIVE and j < i:
                continue
            value = _apply(operator, quantities[i], quantities[j])
            if value is None or not math.isfinite(value):
                continue
            text = f"{format_number(quantities[i])} {operator} {format_number(quantities[j])}"
            out.append(SearchedProgram(text, value, (i, j), 1))
    return out


def _triples(quantities: tuple[float, ...], pairs: list[SearchedProgram]) -> list[SearchedProgram]:
    """(a op b) op c and c op (a op b) for every pair program and every third quantity."""
    out = []
    for inner in pairs:
        for k in range(len(quantities)):
            if k in inner.positions:
                continue
            c = quantities[k]
            shown = format_number(c)
            for operator in ("+", "-", "*", "/"):
                left = _apply(operator, inner.value, c)
                if left is not None and math.isfinite(left):
                    out.append(
                        SearchedProgram(
                            f"({inner.text}) {operator} {shown}",
                            left,
                            (*inner.positions, k),
                            2,
                        )
                    )
                if operator in _COMMUTATIVE:
                    continue
                right = _apply(operator, c, inner.value)
                if right is not None and math.isfinite(right):
                    out.append(
                        SearchedProgram(
                            f"{shown} {operator} ({inner.text})",
                            right,
                            (k, *inner.positions),
                            2,
                        )
                    )
    return out


def search_programs(
    quantities: tuple[float, ...], max_operations: int = 2
) -> list[SearchedProgram]:
    """Every program of one (and, with `max_operations` 2, two) operations over the
    quantities, in a fixed order: fewer operations first, then by the positions used."""
    if max_operations < 1 or len(quantities) < 2 or len(quantities) > MAX_SEARCH_QUANTITIES:
        return []
    pairs = _pairs(quantities)
    if max_operations == 1 or len(quantities) < 3:
        return pairs
    return pairs + _triples(quantities, pairs)
