"""The chart question generator (issue 28): answers recomputed from the data,
balanced answer classes, splits apart, the shifted style family disjoint from the seen
one, and charts that draw what the data says."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from ponder.multimodal import chart_styles
from ponder.multimodal.chart_styles import StyleFamily
from ponder.multimodal.chart_tasks import (
    QUESTION_TYPES,
    SIZE,
    ChartTask,
    answer_is_right,
    data_key,
    make_tasks,
    plot_area,
)


def _expected_answer(task: ChartTask) -> str:
    """The answer, worked out again from the task's data."""
    values = list(task.values)
    by_label = dict(zip(task.labels, values, strict=True))
    if task.question_type in ("largest", "maximum"):
        return task.labels[values.index(max(values))]
    if task.question_type == "smallest":
        return task.labels[values.index(min(values))]
    if task.question_type == "trend":
        return "rising" if values[-1] > values[0] else "falling"
    named = [label for label in task.labels if label in task.question]
    if task.question_type == "value":
        (label,) = named
        return str(by_label[label])
    first, second = sorted(named, key=task.question.index)
    return str(by_label[first] - by_label[second])


def test_every_question_type_is_made_and_its_answer_follows_from_the_data() -> None:
    tasks = make_tasks(300, "train")
    made = Counter((t.kind, t.question_type) for t in tasks)
    assert set(made) == {(k, q) for k, types in QUESTION_TYPES.items() for q in types}
    for task in tasks:
        assert task.answer == _expected_answer(task), task
        if task.needs_arithmetic:
            assert len(task.used) == 2 and eval(task.expression) == int(task.answer)
            assert int(task.answer) > 0
        image = Image.open(io.BytesIO(task.image or b""))
        assert image.size == (SIZE, SIZE) and image.mode == "RGB"


def test_balanced_sets_give_every_answer_class_equally_often() -> None:
    tasks = make_tasks(600, "dev", balanced=True, kinds=("bar", "line"))
    for question_type in ("largest", "smallest", "maximum", "trend"):
        classes = Counter(t.answer_class for t in tasks if t.question_type == question_type)
        assert len(classes) == (2 if question_type == "trend" else 6)
        assert max(classes.values()) - min(classes.values()) <= 1, (question_type, classes)


def test_splits_are_apart_and_the_test_split_is_style_shifted() -> None:
    train = make_tasks(120, "train")
    test = make_tasks(120, "test", exclude=frozenset(data_key(t) for t in train))
    assert not {data_key(t) for t in train} & {data_key(t) for t in test}
    assert make_tasks(12, "train") == train[:12]  # the split and seed decide everything
    assert make_tasks(12, "train", seed=1) != train[:12]
    seen = [t.style for t in train if t.style]
    shifted = [t.style for t in test if t.style]
    assert seen and shifted
    assert {s.family for s in seen} == {StyleFamily.SEEN}
    assert {s.family for s in shifted} == {StyleFamily.SHIFTED}
    assert not {s.font_file for s in seen} & {s.font_file for s in shifted}
    assert not {s.marks for s in seen} & {s.marks for s in shifted}
    assert not {s.background for s in seen} & {s.background for s in shifted}


def test_a_bar_chart_draws_each_bar_as_tall_as_its_value() -> None:
    bars = [
        t
        for t in make_tasks(240, "train", kinds=("bar",))
        if t.style and not t.style.noise and len(t.style.marks) == 1 and not t.style.value_labels
    ]
    assert bars
    for task in bars[:10]:
        style = task.style
        assert style is not None
        pixels = np.asarray(Image.open(io.BytesIO(task.image or b"")), dtype=np.int16)
        area = plot_area(style)
        top_value = 50 if max(task.values) <= 50 else 100
        for index, value in enumerate(task.values):
            left, width = area.slot(index, len(task.values))
            column = pixels[:, int(left + width / 2)]
            is_bar = (np.abs(column - np.array(style.marks[0])).sum(axis=1) < 12).nonzero()[0]
            height = area.bottom - is_bar.min()
            expected = (area.bottom - area.top) * value / top_value
            assert height == pytest.approx(expected, abs=2.0), (task.labels[index], value)


def test_answers_are_checked_by_value_for_numbers_and_by_word_for_labels() -> None:
    tasks = make_tasks(40, "dev")
    number = next(t for t in tasks if t.answer_class == "number")
    label = next(t for t in tasks if t.answer_class.startswith("position"))
    assert answer_is_right(number, f" {number.answer}.0 ")
    assert not answer_is_right(number, str(int(number.answer) + 5))
    assert not answer_is_right(number, "many")
    assert answer_is_right(label, label.answer.upper())
    assert not answer_is_right(label, next(o for o in label.options if o != label.answer))


def test_fonts_come_from_the_pinned_venv() -> None:
    for family in StyleFamily:
        for name in chart_styles._FONTS[family]:
            assert (chart_styles._fonts_folder() / name).is_file()


def test_extra_training_fonts_change_only_the_font_of_about_half_the_charts() -> None:
    extra = (str(chart_styles._fonts_folder() / "DejaVuSansMono-Bold.ttf"),)
    plain = make_tasks(60, "train")
    varied = make_tasks(60, "train", extra_fonts=extra)
    assert [data_key(t) for t in varied] == [data_key(t) for t in plain]
    changed = [(a, b) for a, b in zip(plain, varied, strict=True) if a.style != b.style]
    assert 15 <= len(changed) <= 45
    for a, b in changed:
        assert a.style and b.style
        assert b.style.font_file == extra[0]
        assert replace(b.style, font_file=a.style.font_file) == a.style
        assert a.image != b.image
