"""Chart questions with known answers, for training the chart reader and measuring it
(issue 28; questions about tables are made by `table_tasks.py`).

Each task is made from data first (labels and values), then a question about that data
whose answer is computed from it, then the rendering: a 224x224 chart image in a drawn
style (`chart_styles.py`). Kinds and question types:

- bar:   largest, smallest (a label), value (of a labelled bar), difference (how much more
         one bar is than another: arithmetic, handed to Reason);
- line:  trend (rising or falling), maximum (the label where the line is highest).

Splits are drawn from separate random streams: `train` and `dev` in the seen style family,
`test` in the shifted one (palettes, fonts, backgrounds and label placements training
never shows). With `balanced=True` every answer class of a question type comes equally
often (for label answers the class is the answer's position; for trends the trend), so a
model that always gives one answer scores exactly the majority class.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from PIL import Image, ImageDraw

from ponder.multimodal.chart_styles import ChartStyle, StyleFamily, draw_style
from ponder.multimodal.synthetic import ITEMS, TRENDS  # the fusion's examples use the same

SIZE = 224
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_CATEGORIES = 6


class Split(StrEnum):
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"  # style-shifted

    @property
    def family(self) -> StyleFamily:
        return StyleFamily.SHIFTED if self is Split.TEST else StyleFamily.SEEN


QUESTION_TYPES: dict[str, tuple[str, ...]] = {
    "bar": ("largest", "smallest", "value", "difference"),
    "line": ("trend", "maximum"),
}
ARITHMETIC = frozenset({("bar", "difference")})


@dataclass(frozen=True)
class ChartTask:
    """One question about one chart, with its answer and what it was made from."""

    kind: str  # bar | line
    question_type: str
    question: str
    answer: str  # a label, a trend, or a number written as an integer
    answer_class: str  # what balancing counts: "position 2", "rising", "number"
    labels: tuple[str, ...]  # the categories, in drawing order
    values: tuple[int, ...]  # the plotted values
    used: tuple[tuple[str, int], ...] = ()  # the (label, value) pairs the answer needs
    expression: str = ""  # for arithmetic questions: the computation, e.g. "68 - 45"
    image: bytes | None = None  # PNG, SIZE x SIZE
    style: ChartStyle | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The answer's choices when it is not a number."""
        if self.question_type == "trend":
            return TRENDS
        if self.answer_class == "number":
            return ()
        return self.labels

    @property
    def needs_arithmetic(self) -> bool:
        return (self.kind, self.question_type) in ARITHMETIC


# -- data ---------------------------------------------------------------------------------


def _labels(rng: random.Random, count: int, months: bool) -> tuple[str, ...]:
    if months:
        start = rng.randrange(len(MONTHS) - count + 1)
        return MONTHS[start : start + count]
    return tuple(rng.sample(ITEMS, k=count))


def _distinct_values(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    """Distinct multiples of 5 (readable off a chart's gridlines to the step)."""
    return [5 * v for v in rng.sample(range(low // 5, high // 5 + 1), k=count)]


def _with_extreme_at(values: list[int], position: int, largest: bool) -> list[int]:
    out = list(values)
    extreme = out.index(max(out) if largest else min(out))
    out[extreme], out[position] = out[position], out[extreme]
    return out


def _two_positions(rng: random.Random, count: int, target: int | None) -> tuple[int, int]:
    first = rng.randrange(count) if target is None else target % count
    second = rng.choice([p for p in range(count) if p != first])
    return first, second


# -- questions ----------------------------------------------------------------------------


def _bar_task(rng: random.Random, question_type: str, target: int | None) -> ChartTask:
    low = 4 if target is None else max(4, target + 1)
    count = rng.randint(low, MAX_CATEGORIES)
    labels = _labels(rng, count, months=rng.random() < 0.5)
    values = _distinct_values(rng, count, 10, 95)
    noun = "month" if labels[0] in MONTHS else "item"
    if question_type in ("largest", "smallest"):
        position = rng.randrange(count) if target is None else target
        values = _with_extreme_at(values, position, question_type == "largest")
        word = "highest" if question_type == "largest" else "lowest"
        return ChartTask(
            "bar", question_type, f"Which {noun} has the {word} bar?", labels[position],
            f"position {position + 1}", labels, tuple(values),
            used=((labels[position], values[position]),),
        )  # fmt: skip
    if question_type == "value":
        position = rng.randrange(count) if target is None else target % count
        return ChartTask(
            "bar", "value", f"What is the value of the {labels[position]} bar?",
            str(values[position]), "number", labels, tuple(values),
            used=((labels[position], values[position]),),
        )  # fmt: skip
    first, second = _two_positions(rng, count, target)
    if values[first] < values[second]:
        first, second = second, first
    a, b = values[first], values[second]
    return ChartTask(
        "bar", "difference",
        f"How much higher is the {labels[first]} bar than the {labels[second]} bar?",
        str(a - b), "number", labels, tuple(values),
        used=((labels[first], a), (labels[second], b)), expression=f"{a} - {b}",
    )  # fmt: skip


def _line_task(rng: random.Random, question_type: str, target: int | None) -> ChartTask:
    low = 5 if target is None or question_type == "trend" else max(5, target + 1)
    count = rng.randint(low, MAX_CATEGORIES)
    labels = _labels(rng, count, months=True)
    if question_type == "trend":
        rising = rng.random() < 0.5 if target is None else target % 2 == 0
        start, end = rng.randint(10, 35), rng.randint(65, 95)
        if not rising:
            start, end = end, start
        wobble = [rng.randint(-2, 2) * 5 for _ in range(count)]
        values = [
            min(95, max(5, 5 * round((start + (end - start) * i / (count - 1)) / 5) + w))
            for i, w in enumerate(wobble)
        ]
        # the ends decide the trend: keep them where they were drawn
        values[0], values[-1] = 5 * round(start / 5), 5 * round(end / 5)
        trend = TRENDS[0] if rising else TRENDS[1]
        return ChartTask(
            "line", "trend", "Is the line rising or falling overall?", trend, trend,
            labels, tuple(values),
        )  # fmt: skip
    position = rng.randrange(count) if target is None else target % count
    values = _with_extreme_at(_distinct_values(rng, count, 10, 95), position, largest=True)
    return ChartTask(
        "line", "maximum", "In which month is the line highest?", labels[position],
        f"position {position + 1}", labels, tuple(values),
        used=((labels[position], values[position]),),
    )  # fmt: skip


_MAKERS: dict[str, Callable[[random.Random, str, int | None], ChartTask]] = {
    "bar": _bar_task,
    "line": _line_task,
}


# -- rendering ----------------------------------------------------------------------------


def _axis_top(values: tuple[int, ...]) -> int:
    return 50 if max(values) <= 50 else 100


@dataclass(frozen=True)
class PlotArea:
    left: int
    top: int
    right: int
    bottom: int

    def y(self, value: float, top_value: int) -> float:
        return self.bottom - (self.bottom - self.top) * value / top_value

    def slot(self, index: int, count: int) -> tuple[float, float]:
        """(left, width) of category `index`'s slot."""
        width = (self.right - self.left) / count
        return self.left + index * width, width


def plot_area(style: ChartStyle) -> PlotArea:
    text = style.font_size + 6
    return PlotArea(
        left=2 * style.font_size + 10,
        top=8 if style.label_below else text + 4,
        right=SIZE - 8,
        bottom=SIZE - (text + 4 if style.label_below else 10),
    )


def _centred_text(
    draw: ImageDraw.ImageDraw, x: float, y: float, text: str, style: ChartStyle
) -> None:
    font = style.font()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(
        (x - (right - left) / 2, y - (bottom - top) / 2 - top), text, fill=style.ink, font=font
    )


def _axes(draw: ImageDraw.ImageDraw, area: PlotArea, top_value: int, style: ChartStyle) -> None:
    step = top_value // 5
    for tick in range(0, top_value + 1, step):
        y = area.y(tick, top_value)
        if style.gridlines and tick:
            grid = tuple((c + b) // 2 for c, b in zip(style.ink, style.background, strict=True))
            draw.line((area.left, y, area.right, y), fill=grid, width=1)
        draw.line((area.left - 4, y, area.left, y), fill=style.ink, width=1)
        _centred_text(draw, area.left - 8 - style.font_size * 0.6, y, str(tick), style)
    draw.line((area.left, area.top, area.left, area.bottom), fill=style.ink, width=1)
    draw.line((area.left, area.bottom, area.right, area.bottom), fill=style.ink, width=1)


def _category_labels(
    draw: ImageDraw.ImageDraw, area: PlotArea, labels: tuple[str, ...], style: ChartStyle
) -> None:
    y = (
        area.bottom + style.font_size // 2 + 5
        if style.label_below
        else area.top - style.font_size // 2 - 5
    )
    for index, label in enumerate(labels):
        left, width = area.slot(index, len(labels))
        text = label if len(labels) <= 4 else label[:5]
        _centred_text(draw, left + width / 2, y, text, style)


def render_chart(task: ChartTask, style: ChartStyle, rng: random.Random) -> bytes:
    """The task's chart as a SIZE x SIZE PNG in `style`."""
    image = Image.new("RGB", (SIZE, SIZE), style.background)
    draw = ImageDraw.Draw(image)
    area = plot_area(style)
    top_value = _axis_top(task.values)
    _axes(draw, area, top_value, style)
    count = len(task.values)
    centres = []
    for index, value in enumerate(task.values):
        left, width = area.slot(index, count)
        centre = left + width / 2
        y = area.y(value, top_value)
        centres.append((centre, y))
        if task.kind == "bar":
            half = width * style.bar_width / 2
            fill = style.marks[index % len(style.marks)]
            draw.rectangle((centre - half, y, centre + half, area.bottom - 1), fill=fill)
        if style.value_labels:
            _centred_text(draw, centre, y - style.font_size // 2 - 4, str(value), style)
    if task.kind == "line":
        draw.line(centres, fill=style.marks[0], width=style.line_width)
        if style.markers:
            r = style.line_width + 2
            for x, y in centres:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=style.marks[0])
    _category_labels(draw, area, task.labels, style)
    if style.noise:
        pixels = np.asarray(image, dtype=np.float32)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, style.noise, pixels.shape)
        image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# -- sets ---------------------------------------------------------------------------------


def _stream(split: Split, seed: int) -> random.Random:
    digest = hashlib.sha256(f"ponder-chart-tasks/{split.value}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _classes(question_type: str) -> int:
    if question_type == "trend":
        return 2
    return MAX_CATEGORIES


def data_key(task: ChartTask) -> str:
    """What makes two tasks the same problem: kind, question and the data behind it."""
    return f"{task.kind}|{task.question}|{task.labels}|{task.values}"


def make_tasks(
    count: int,
    split: Split | str,
    seed: int = 0,
    balanced: bool = False,
    kinds: tuple[str, ...] = ("bar", "line"),
    exclude: frozenset[str] = frozenset(),
    font_sizes: tuple[int, ...] = (),
    extra_fonts: tuple[str, ...] = (),
) -> list[ChartTask]:
    """`count` tasks, kinds and their question types in turn, fully determined by (split,
    seed). balanced: each question type's answer classes in turn. A task whose data key is
    in `exclude` (another split's tasks) is drawn again. font_sizes: draw each chart's font
    size from these instead of the family's; extra_fonts: font files (paths) half the
    charts are written in instead of the family's font. Both come from streams of their
    own, so the charts' data and every other choice of style stay those drawn without."""
    split = Split(split)
    rng = _stream(split, seed)
    sizes = random.Random(f"ponder-chart-font-sizes/{split.value}/{seed}")
    fonts = random.Random(f"ponder-chart-extra-fonts/{split.value}/{seed}")
    pairs = [(k, q) for k in kinds for q in QUESTION_TYPES[k]]
    turns: dict[tuple[str, str], int] = {}
    out: list[ChartTask] = []
    while len(out) < count:
        kind, question_type = pairs[len(out) % len(pairs)]
        turn = turns.get((kind, question_type), 0)
        target = turn % _classes(question_type) if balanced else None
        task = _MAKERS[kind](rng, question_type, target)
        if data_key(task) in exclude:
            continue
        turns[(kind, question_type)] = turn + 1
        style = draw_style(rng, split.family)
        if font_sizes:
            style = replace(style, font_size=sizes.choice(font_sizes))
        if extra_fonts and fonts.random() < 0.5:
            style = replace(style, font_file=fonts.choice(extra_fonts))
        out.append(_with_render(task, style, rng))
    return out


def make_splits(
    train: int,
    dev: int,
    test: int,
    seed: int,
    kinds: tuple[str, ...] = ("bar", "line"),
    train_font_sizes: tuple[int, ...] = (),
    train_extra_fonts: tuple[str, ...] = (),
) -> tuple[list[ChartTask], list[ChartTask], list[ChartTask]]:
    """The training tasks, then the balanced dev (seen styles) and style-shifted test
    tasks, none with a training task's data. train_font_sizes: the training charts' font
    sizes (default: the seen family's); train_extra_fonts: font files half the training
    charts are written in instead. The held-out sets keep their families' fonts and sizes."""
    training = make_tasks(
        train,
        Split.TRAIN,
        seed=seed,
        kinds=kinds,
        font_sizes=train_font_sizes,
        extra_fonts=train_extra_fonts,
    )
    seen = frozenset(data_key(t) for t in training)
    held = {"balanced": True, "kinds": kinds, "exclude": seen}
    return (
        training,
        make_tasks(dev, Split.DEV, seed=seed, **held),  # type: ignore[arg-type]
        make_tasks(test, Split.TEST, seed=seed, **held),  # type: ignore[arg-type]
    )


def _with_render(task: ChartTask, style: ChartStyle, rng: random.Random) -> ChartTask:
    return replace(task, image=render_chart(task, style, rng), style=style)


def answer_is_right(task: ChartTask, answer: str) -> bool:
    """A reply matches: labels and trends case-insensitively, numbers by value."""
    reply = answer.strip().rstrip(".").strip()
    if task.answer_class == "number":
        try:
            return math.isclose(float(reply.replace(",", "")), float(task.answer))
        except ValueError:
            return False
    return reply.lower() == task.answer.lower()
