"""Reproducible image/table-question-answer examples with known answers, for training and
measuring the fusion: rendered bar charts ("which bar is tallest?"), line charts ("is the
trend rising or falling?") and small tables ("which item has the largest value?")."""

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


def bar_chart(rng: random.Random) -> Example:
    values = rng.sample(range(15, 100), k=4)
    image = Image.new("RGB", (224, 224), "white")
    draw = ImageDraw.Draw(image)
    draw.line((10, 210, 214, 210), fill="black", width=2)
    for i, value in enumerate(values):
        left = 20 + i * 50
        draw.rectangle((left, 210 - value * 2, left + 34, 210), fill="steelblue")
    answer = POSITIONS[values.index(max(values))]
    question = "Which bar is tallest: the first, second, third or fourth?"
    return Example("bar", question, answer, POSITIONS, image=_png(image))


def line_chart(rng: random.Random) -> Example:
    rising = rng.random() < 0.5
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


def value_table(rng: random.Random) -> Example:
    items = rng.sample(ITEMS, k=rng.randint(3, 4))
    values = rng.sample(range(1, 100), k=len(items))
    table = Table(("item", "value"), tuple((i, str(v)) for i, v in zip(items, values, strict=True)))
    answer = items[values.index(max(values))]
    question = "Which item has the largest value?"
    return Example("table", question, answer, tuple(items), table=table)


def make_examples(count: int, seed: int) -> list[Example]:
    """count examples, the three kinds in turn, fully determined by seed."""
    rng = random.Random(seed)
    makers = (bar_chart, line_chart, value_table)
    return [makers[i % 3](rng) for i in range(count)]
