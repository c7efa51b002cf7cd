"""Questions about a chart the reader has read: what the question asks (from its words),
and the answer worked out over the values the reader saw, with the values it used.

The reader (`chart_reader.py`) turns a chart into labels and values; a question about
them is one of a few operations over those values. Arithmetic ones ("how much higher is
Mar than Jan?") come back as an expression over the read values, which Analyze can hand
to Reason; the answer always carries the (label, value) pairs it used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class ChartReading:
    """What the chart reader says a chart shows."""

    kind: str
    labels: tuple[str, ...]
    values: tuple[int, ...]
    axis_top: int
    confidence: float = 1.0  # the least probability among the choices the reading made
    frame_sure: float = 1.0  # the lesser probability of its kind and its category count
    label_sure: tuple[float, ...] = ()  # each slot's label's probability (when known)
    value_sure: tuple[float, ...] = ()  # each slot's value's probability (when known)

    def sure_of(self, label_slots: Sequence[int], value_slots: Sequence[int]) -> float:
        """The least probability among the choices an answer rests on: the chart's kind
        and count, the labels of `label_slots` and the values of `value_slots`; the whole
        reading's confidence when per-slot probabilities are not known."""
        if len(self.label_sure) != len(self.labels) or len(self.value_sure) != len(self.values):
            return self.confidence
        chosen = [self.label_sure[s] for s in label_slots]
        chosen += [self.value_sure[s] for s in value_slots]
        return min([self.frame_sure, *chosen])


@dataclass(frozen=True)
class ChartRead:
    """One image's reading as the encoder pool returns it."""

    reading: ChartReading
    reader_version: str
    batch_size: int  # images in the batch it was read in


class ChartOperation(StrEnum):
    LARGEST = "largest"
    SMALLEST = "smallest"
    VALUE = "value"
    DIFFERENCE = "difference"
    SUM = "sum"
    TREND = "trend"


@dataclass(frozen=True)
class ChartAnswer:
    """An answer read off a chart."""

    operation: ChartOperation
    answer: str
    used: tuple[tuple[str, int], ...]  # the (label, value) pairs it rests on
    expression: str = ""  # the computation, for arithmetic answers
    confidence: float = 1.0  # the least probability among the reading's choices it uses


_WORD = re.compile(r"[A-Za-z]+")


def named_labels(question: str, labels: Sequence[str]) -> tuple[str, ...]:
    """The `labels` the question names, in the order it names them."""
    words = [w.lower() for w in _WORD.findall(question)]
    found = []
    for word in words:
        for label in labels:
            if label.lower() == word and label not in found:
                found.append(label)
    return tuple(found)


def operation_of(question: str) -> ChartOperation | None:
    """What a chart question asks, from its words; None when it is none of these."""
    text = question.lower()
    if "rising or falling" in text or "trend" in text:
        return ChartOperation.TREND
    if re.search(r"\b(total|together|in total|altogether|sum)\b", text):
        return ChartOperation.SUM
    if re.search(r"\bhow (much|many) (more|higher|less|lower)\b|\bdifference\b", text):
        return ChartOperation.DIFFERENCE
    if re.search(r"\b(highest|largest|most|tallest|greatest|maximum)\b", text):
        return ChartOperation.LARGEST
    if re.search(r"\b(lowest|smallest|least|shortest|minimum)\b", text):
        return ChartOperation.SMALLEST
    if re.search(r"\b(value|how (much|many)|what is)\b", text):
        return ChartOperation.VALUE
    return None


def answer_question(question: str, reading: ChartReading) -> ChartAnswer | None:
    """The answer over the read values, or None when the question cannot be matched to the
    reading (an operation it does not know, or labels the chart does not show)."""
    operation = operation_of(question)
    if operation is None or not reading.values:
        return None
    pairs = list(zip(reading.labels, reading.values, strict=True))
    if operation is ChartOperation.TREND:
        rising = reading.values[-1] > reading.values[0]
        ends = (pairs[0], pairs[-1])
        sure = reading.sure_of((), (0, len(pairs) - 1))
        return ChartAnswer(operation, "rising" if rising else "falling", ends, confidence=sure)
    if operation in (ChartOperation.LARGEST, ChartOperation.SMALLEST):
        pick = max if operation is ChartOperation.LARGEST else min
        slot = pick(range(len(pairs)), key=lambda s: pairs[s][1])
        sure = reading.sure_of((slot,), range(len(pairs)))  # every value decides which
        return ChartAnswer(operation, pairs[slot][0], (pairs[slot],), confidence=sure)
    named = named_labels(question, reading.labels)
    slots = [reading.labels.index(n) for n in named]
    sure = reading.sure_of(slots, slots)
    if operation is ChartOperation.VALUE:
        if len(named) != 1:
            return None
        return ChartAnswer(operation, str(pairs[slots[0]][1]), (pairs[slots[0]],), confidence=sure)
    if len(named) != 2:
        return None
    (first, a), (second, b) = (pairs[s] for s in slots)
    used = ((first, a), (second, b))
    if operation is ChartOperation.SUM:
        return ChartAnswer(operation, str(a + b), used, f"{a} + {b}", sure)
    return ChartAnswer(operation, str(a - b), used, f"{a} - {b}", sure)


def stated_values(used: tuple[tuple[str, int], ...], kind: str = "") -> str:
    """The values an answer rests on as sentences a word problem can start with, named as
    the question names them ("The Mar bar is 75."). On dev charts' difference questions,
    Reason on the base decoder subtracted for 14 of 16 stated that way and for 6 of 16
    stated as "The value of Mar is 75."; on the student, for all in both (BENCHMARKS.md,
    "Reason over the values read")."""
    if kind == "bar":
        return " ".join(f"The {label} bar is {value}." for label, value in used)
    if kind == "line":
        return " ".join(f"The line is at {value} in {label}." for label, value in used)
    return " ".join(f"The value of {label} is {value}." for label, value in used)
