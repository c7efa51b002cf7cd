"""How well the chart reader reads held-out charts, and how often the answers worked out
over its readings are right, per question type, beside the majority-class baseline."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from ponder.multimodal.chart_questions import answer_question
from ponder.multimodal.chart_reader import (
    ChartReader,
    ReadOutputs,
    read_charts_alone_and_asked,
    read_once,
    score_readings,
)
from ponder.multimodal.chart_tasks import ChartTask, answer_is_right


def majority_answers(train: Sequence[ChartTask]) -> dict[str, str]:
    """Per question type, the training set's most common answer class (for label answers
    the class is a position; the baseline answers the label at that position)."""
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for task in train:
        by_type[f"{task.kind}/{task.question_type}"][
            task.answer if task.answer_class == "number" else task.answer_class
        ] += 1
    return {name: counts.most_common(1)[0][0] for name, counts in by_type.items()}


def majority_is_right(task: ChartTask, majority: str) -> bool:
    if majority.startswith("position "):
        position = int(majority.split()[1]) - 1
        return position < len(task.labels) and task.labels[position] == task.answer
    return answer_is_right(task, majority)


def evaluate_reader(
    reader: ChartReader,
    tasks: Sequence[ChartTask],
    majority: dict[str, str],
    min_confidence: float = 0.5,
    reading_pass: ReadOutputs = read_once,
) -> dict[str, Any]:
    """Reading scores (the chart alone) and, per question type, k/n right for the
    read-then-computed answer — the chart read knowing the labels its question names, as
    Analyze reads it (`read`), and read alone (`read_alone`) — and for the majority
    class; `answered` / `answered_right` count the questions whose answer is at least
    `min_confidence` sure (the least probability among the reading's choices it rests on:
    those Analyze answers from the reading; the rest take the fused path)."""
    alone, asked = read_charts_alone_and_asked(reader, tasks, reading_pass=reading_pass)
    counts = ("n", "read", "read_alone", "majority", "answered", "answered_right")
    per_type: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counts, 0))
    for task, reading, reading_alone in zip(tasks, asked, alone, strict=True):
        name = f"{task.kind}/{task.question_type}"
        answer = answer_question(task.question, reading)
        right = answer is not None and answer_is_right(task, answer.answer)
        answer_alone = answer_question(task.question, reading_alone)
        sure = answer is not None and answer.confidence >= min_confidence
        row = per_type[name]
        row["n"] += 1
        row["read"] += right
        row["read_alone"] += answer_alone is not None and answer_is_right(task, answer_alone.answer)
        row["answered"] += sure
        row["answered_right"] += sure and right
        row["majority"] += name in majority and majority_is_right(task, majority[name])
    return {
        "reading": score_readings(tasks, alone).as_dict(),
        "min_confidence": min_confidence,
        "answers": dict(sorted(per_type.items())),
    }
