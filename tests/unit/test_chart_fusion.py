"""The decoder-side chart fusion (issue 28): the memory the decoder attends over is what
the packaged chart reader reads, one vector for the chart and one per category; the
fusion starts as the plain text prompt; weights round-trip through their files; replies
are graded by the first answer they name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ponder.config import EncoderConfig
from ponder.multimodal.chart_fusion import (
    CHART_INPUT,
    SLOT_FEATURES,
    SLOT_INPUT,
    ChartFusion,
    load_fusion,
    memory_inputs,
    save_fusion,
)
from ponder.multimodal.chart_fusion_training import reading_text, reply_answer
from ponder.multimodal.chart_reader import (
    LABELS,
    VALUE_STEP,
    load_reader,
    normalise,
    raw_pixels,
    read_charts,
)
from ponder.multimodal.chart_tasks import make_tasks

WIDTH = 576


def test_the_memory_is_what_the_reader_reads_one_vector_per_category() -> None:
    reader, _ = load_reader()
    tasks = make_tasks(8, "dev", seed=3)
    inputs = memory_inputs(reader, normalise(raw_pixels(tasks)))
    readings = read_charts(reader, tasks)
    for task, chart, reading in zip(tasks, inputs, readings, strict=True):
        assert chart.chart.shape == (CHART_INPUT,)
        assert chart.slots.shape == (len(reading.values), SLOT_INPUT)
        assert len(reading.values) == len(task.values)  # the reader counts these right
        label_probs = chart.slots[:, SLOT_FEATURES : SLOT_FEATURES + len(LABELS)]
        value_probs = chart.slots[:, SLOT_FEATURES + len(LABELS) :]
        assert torch.allclose(label_probs.sum(-1), torch.ones(len(task.values)))
        values = [int(v) * VALUE_STEP for v in value_probs.argmax(-1)]
        assert tuple(values) == reading.values


def test_an_untrained_fusion_is_the_plain_prompt_after_the_chart_vectors() -> None:
    reader, _ = load_reader()
    chart = memory_inputs(reader, normalise(raw_pixels(make_tasks(1, "dev", seed=4))))[0]
    fusion = ChartFusion(WIDTH)
    text = torch.randn(12, WIDTH)
    prompt = fusion.prompt(text, chart)
    rows = 1 + chart.slots.shape[0]
    assert prompt.shape == (rows + 12, WIDTH)
    assert torch.equal(prompt[rows:], text)  # gate 0: the question is untouched
    assert torch.equal(prompt[:rows], fusion.memory(chart))
    # once the gate opens, the question's embeddings carry the chart
    with torch.no_grad():
        fusion.fusion.gate.fill_(1.0)
    assert not torch.allclose(fusion.prompt(text, chart)[rows:], text)


def test_the_positions_an_answer_follows_ask_about_the_whole_question() -> None:
    """The prompt ends with the same tokens whatever the question; with question queries
    what those positions take from the chart depends on the question, without them not."""
    reader, _ = load_reader()
    chart = memory_inputs(reader, normalise(raw_pixels(make_tasks(1, "dev", seed=4))))[0]
    ending = torch.randn(3, WIDTH)
    asked = [torch.cat([torch.randn(9, WIDTH), ending]) for _ in range(2)]
    for question_queries in (True, False):
        fusion = ChartFusion(WIDTH, question_queries=question_queries)
        with torch.no_grad():
            fusion.fusion.gate.fill_(1.0)
        ends = [fusion.prompt(text, chart)[-3:] for text in asked]
        assert torch.allclose(ends[0], ends[1]) is not question_queries


def test_weights_round_trip_with_a_content_version(tmp_path: Path) -> None:
    fusion = ChartFusion(WIDTH, seed=1)
    with torch.no_grad():
        fusion.fusion.gate.fill_(0.5)
    version = save_fusion(fusion, tmp_path, {"reader": "reader-x", "metrics": {}})
    assert version == save_fusion(fusion, tmp_path / "again", {"reader": "reader-x"})
    loaded, meta = load_fusion(WIDTH, tmp_path)
    assert meta["version"] == version and meta["reader"] == "reader-x"
    for name, value in fusion.state_dict().items():
        assert torch.allclose(loaded.state_dict()[name], value, atol=1e-3), name
    assert version != save_fusion(ChartFusion(WIDTH, seed=2), tmp_path / "other", {})


def test_replies_are_graded_by_the_first_answer_they_name() -> None:
    tasks = {t.question_type: t for t in make_tasks(12, "dev", seed=5)}
    largest = tasks["largest"]
    first, second = largest.labels[0], largest.labels[1]
    assert reply_answer(largest, f"The {first} bar, then {second}.") == first
    assert reply_answer(largest, "I cannot see the chart.") == ""
    value = tasks["value"]
    assert reply_answer(value, "The bar is at 1,045 units, not 20") == "1045"
    assert reply_answer(value, "none") == ""
    trend = tasks["trend"]
    assert reply_answer(trend, "It is falling, not rising") == "falling"
    months = next(t for t in make_tasks(200, "dev", seed=6) if "Jan" in t.options)
    assert reply_answer(months, "The month is January.") == "Jan"


def test_the_reading_as_text_baseline_states_every_label_and_value() -> None:
    reader, _ = load_reader()
    task = make_tasks(1, "dev", seed=7)[0]
    reading = read_charts(reader, [task])[0]
    text = reading_text(reading)
    assert text.startswith(f"A {reading.kind} chart: ")
    for label, value in zip(reading.labels, reading.values, strict=True):
        assert f"{label} {value}" in text


def test_a_chart_fusion_folder_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chart_fusion_dir"):
        EncoderConfig(enabled=True, chart_fusion_dir=str(tmp_path))
    assert EncoderConfig(enabled=True, chart_fusion=False, chart_fusion_dir=str(tmp_path))
