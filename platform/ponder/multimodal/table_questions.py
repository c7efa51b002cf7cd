"""Questions about a table the table reader has read: what the reader says a question asks
(an operation, a column, the rows it names), and the answer worked out over those cells,
with the cells it used. Sums and differences come back as an expression over the cells,
which Analyze hands to Reason. Plain Python (the ingress imports it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ponder.multimodal.inputs import Table
from ponder.multimodal.table_tasks import ROW_ANSWERS, TableOperation


@dataclass(frozen=True)
class TableReading:
    """What the reader says a question asks of a table."""

    operation: TableOperation
    column: int
    rows: tuple[int, ...]  # the rows it names (none for argmax and argmin)
    confidence: float  # the least probability among the choices the reading made


@dataclass(frozen=True)
class TableAnswer:
    """An answer worked out over a table's cells."""

    operation: TableOperation
    answer: str
    column: str
    used: tuple[tuple[str, float], ...]  # (row name, value) pairs it rests on
    expression: str = ""  # for sum and difference


@dataclass(frozen=True)
class TableRead:
    """One question's reading as the encoder pool returns it."""

    reading: TableReading
    answer: TableAnswer | None  # None when the cells it points at do not give one
    reader_version: str
    batch_size: int  # questions in the batch it was read in


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _written(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def answer_table_question(reading: TableReading, table: Table) -> TableAnswer | None:
    """The answer over the cells the reading points at; None for a question it does not
    answer (other), or when the cells are not numbers or it names the same row twice."""
    if reading.operation is TableOperation.OTHER:
        return None
    values = [_number(row[reading.column]) for row in table.rows]
    names = [row[0] for row in table.rows]
    column = table.columns[reading.column]
    if reading.operation in ROW_ANSWERS:
        numbers = [v for v in values if v is not None]
        if len(numbers) != len(values):
            return None
        pick = max if reading.operation is TableOperation.ARGMAX else min
        row = values.index(pick(numbers))
        return TableAnswer(reading.operation, names[row], column, ((names[row], numbers[row]),))
    if len(set(reading.rows)) != len(reading.rows):
        return None
    used = [(names[r], values[r]) for r in reading.rows]
    if any(v is None for _, v in used):
        return None
    pairs = tuple((name, float(v)) for name, v in used if v is not None)
    if reading.operation is TableOperation.LOOKUP:
        return TableAnswer(reading.operation, _written(pairs[0][1]), column, pairs)
    (_, a), (_, b) = pairs
    if reading.operation is TableOperation.SUM:
        return TableAnswer(
            reading.operation, _written(a + b), column, pairs, f"{_written(a)} + {_written(b)}"
        )
    return TableAnswer(
        reading.operation, _written(a - b), column, pairs, f"{_written(a)} - {_written(b)}"
    )


def stated_cells(answer: TableAnswer) -> str:
    """The cells an answer rests on as sentences a word problem can start with."""
    return " ".join(
        f"The {answer.column} of {name} is {_written(value)}." for name, value in answer.used
    )


_YES_OR_NO = re.compile(
    r"^\W*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I
)


def asks_yes_or_no(question: str) -> bool:
    """A question that opens with an auxiliary verb ("Did sales rise?", "Is the price of
    apples above 5?") wants a yes or a no, which none of the reader's answers (a cell, a
    row's name, a sum or difference) is: Analyze leaves it to the fused decoder."""
    return _YES_OR_NO.match(question) is not None
