"""Reproducible image/table-question-answer examples with known answers, for training and
measuring the fusion: rendered bar charts ("which bar is tallest?"), line charts ("is the
trend rising or falling?") and small tables ("which item has the largest value?").

Held-out sets are balanced (`make_examples(..., balanced=True)`: every answer class —
tallest bar's position, trend, largest row's position — equally often within a kind), so
a model that always gives one answer scores exactly chance and cannot pass for one that
reads the chart."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from ponder.multimodal.inputs import Table

POSITIONS = ("first", "second", "third", "fourth")
TRENDS = ("rising", "falling")
ITEMS = (
    "apples", "pears", "plums", "grapes", "lemons", "cherries", "melons", "peaches",
    "figs", "limes", "kiwis", "mangos",
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    kind: str  # bar | line | table
    question: str
    answer: str
    options: tuple[str, ...]
    image: bytes | None = None
    table: Table | None = None

    @property
    def table_json(self) -> str | None:
        if self.table is None:
            return None
        return json.dumps(
            {"columns": list(self.table.columns), "rows": [list(r) for r in self.table.rows]}
        )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _largest_at(values: list[int], target: int | None) -> list[int]:
    """values with their maximum moved to index `target` (None: unchanged)."""
    if target is None:
        return values
    moved = list(values)
    top = moved.index(max(moved))
    moved[top], moved[target] = moved[target], moved[top]
    return moved


def bar_chart(rng: random.Random, target: int | None = None) -> Example:
    values = _largest_at(rng.sample(range(15, 100), k=4), target)
    image = Image.new("RGB", (224, 224), "white")
    draw = ImageDraw.Draw(image)
    draw.line((10, 210, 214, 210), fill="black", width=2)
    for i, value in enumerate(values):
        left = 20 + i * 50
        draw.rectangle((left, 210 - value * 2, left + 34, 210), fill="steelblue")
    answer = POSITIONS[values.index(max(values))]
    question = "Which bar is tallest: the first, second, third or fourth?"
    return Example("bar", question, answer, POSITIONS, image=_png(image))


def line_chart(rng: random.Random, target: int | None = None) -> Example:
    rising = rng.random() < 0.5
    if target is not None:
        rising = target % 2 == 0  # TRENDS[target]
    points = 6
    start, end = (rng.randint(20, 60), rng.randint(140, 190))
    if not rising:
        start, end = end, start
    ys = [start + (end - start) * i / (points - 1) + rng.randint(-12, 12) for i in range(points)]
    image = Image.new("RGB", (224, 224), "white")
    draw = ImageDraw.Draw(image)
    draw.line((10, 210, 214, 210), fill="black", width=2)
    xy = [(20 + i * 36, 210 - y) for i, y in enumerate(ys)]
    draw.line(xy, fill="darkred", width=4)
    question = "Is the trend in this line chart rising or falling?"
    return Example("line", question, TRENDS[0] if rising else TRENDS[1], TRENDS, image=_png(image))


def value_table(rng: random.Random, target: int | None = None) -> Example:
    items = rng.sample(ITEMS, k=rng.randint(3, 4))
    values = rng.sample(range(1, 100), k=len(items))
    values = _largest_at(values, None if target is None else target % len(items))
    table = Table(("item", "value"), tuple((i, str(v)) for i, v in zip(items, values, strict=True)))
    answer = items[values.index(max(values))]
    question = "Which item has the largest value?"
    return Example("table", question, answer, tuple(items), table=table)


CLASSES = {"bar": len(POSITIONS), "line": len(TRENDS), "table": 3}  # table: rows 1-3 always


def make_examples(count: int, seed: int, balanced: bool = False) -> list[Example]:
    """count examples, the three kinds in turn, fully determined by seed; balanced: the
    answer classes of each kind in turn (tables: the largest value in rows 1-3 in turn)."""
    rng = random.Random(seed)
    makers = (("bar", bar_chart), ("line", line_chart), ("table", value_table))
    examples = []
    for i in range(count):
        kind, maker = makers[i % 3]
        examples.append(maker(rng, (i // 3) % CLASSES[kind] if balanced else None))
    return examples


def answer_class(example: Example, answer: str | None = None) -> str:
    """The class of an answer to `example` (default: its right answer): the answer itself
    for charts, the position of the row holding it for tables (the items differ between
    examples)."""
    answer = example.answer if answer is None else answer
    if example.kind == "table":
        return f"row {example.options.index(answer) + 1}"
    return answer
