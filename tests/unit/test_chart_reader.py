"""The chart reader (issue 28): its targets are the chart's data, a perfect reading
answers every generated question, it learns, and it round-trips through its files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ponder.multimodal.chart_evaluation import evaluate_reader, majority_answers
from ponder.multimodal.chart_questions import ChartOperation, answer_question, operation_of
from ponder.multimodal.chart_reader import (
    LABELS,
    VALUE_CLASSES,
    ChartReader,
    ChartReading,
    ReadingTargets,
    augment,
    decode_readings,
    load_reader,
    normalise,
    raw_pixels,
    reading_loss,
    save_reader,
    score_readings,
    train_reader,
)
from ponder.multimodal.chart_tasks import make_tasks

CHARTS = ("bar", "line")


def _perfect(task: object) -> ChartReading:
    return ChartReading(task.kind, task.labels, task.values, 50 if max(task.values) <= 50 else 100)  # type: ignore[attr-defined]


def test_a_perfect_reading_answers_every_generated_chart_question() -> None:
    for task in make_tasks(120, "dev", kinds=CHARTS):
        answer = answer_question(task.question, _perfect(task))
        assert answer is not None and answer.answer == task.answer, task.question
        assert set(answer.used) >= set(task.used)
        if task.needs_arithmetic:
            assert answer.expression == task.expression


def test_questions_map_to_operations_and_unknown_labels_get_no_answer() -> None:
    assert operation_of("How much more did Mar sell than Jan?") is ChartOperation.DIFFERENCE
    assert operation_of("Which month had the lowest sales?") is ChartOperation.SMALLEST
    assert operation_of("What is the total of Feb and Mar?") is ChartOperation.SUM
    assert operation_of("Describe this chart.") is None
    reading = ChartReading("bar", ("Jan", "Feb", "Mar"), (10, 40, 25), 50)
    assert answer_question("What is the value of the Jun bar?", reading) is None
    answer = answer_question("How much higher is the Feb bar than the Jan bar?", reading)
    assert answer is not None and (answer.answer, answer.expression) == ("30", "40 - 10")
    assert answer.used == (("Feb", 40), ("Jan", 10))


def test_targets_decode_back_to_the_charts_data() -> None:
    tasks = make_tasks(12, "train", kinds=CHARTS)
    targets = ReadingTargets.of(tasks)

    def one_hot(index: torch.Tensor, classes: int) -> torch.Tensor:
        return torch.nn.functional.one_hot(index.clamp(min=0), classes).float()

    outputs = {
        "kind": one_hot(targets.kind, 2),
        "count": one_hot(targets.count, 3),
        "labels": one_hot(targets.labels, len(LABELS)),
        "values": one_hot(targets.values, VALUE_CLASSES),
        "axis_top": one_hot(targets.axis_top, 2),
    }
    readings = decode_readings(outputs)
    assert [(r.kind, r.labels, r.values) for r in readings] == [
        (t.kind, t.labels, t.values) for t in tasks
    ]
    assert score_readings(tasks, readings).whole == len(tasks)


def test_the_reader_learns_and_round_trips_through_its_files(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tasks = make_tasks(16, "train", kinds=CHARTS)
    raw, targets = raw_pixels(tasks), ReadingTargets.of(tasks)
    reader = ChartReader("resnet-light", seed=0)
    reader.eval()
    with torch.no_grad():
        before = float(reading_loss(reader(normalise(raw)), targets))
    losses = train_reader(reader, raw, targets, 6, 8, 3e-3, 0, lambda _: None, augmented=False)
    reader.eval()
    with torch.no_grad():
        after = float(reading_loss(reader(normalise(raw)), targets))
        logits = reader(normalise(raw[:4]))["values"]
    assert after < before * 0.8 and losses[-1] < losses[0]
    version = save_reader(reader, tmp_path, {"metrics": {}})
    loaded, meta = load_reader(tmp_path)
    assert meta["version"] == version and meta["trunk"] == "resnet-light"
    with torch.no_grad():
        again = loaded(normalise(raw[:4]))["values"]
    assert torch.allclose(again, logits, atol=0.05 * float(logits.abs().max()))
    report = evaluate_reader(loaded, tasks[:6], majority_answers(tasks))
    assert report["reading"]["charts"] == 6 and sum(r["n"] for r in report["answers"].values()) == 6


def test_augmentation_changes_colours_not_layout_and_is_seeded() -> None:
    raw = raw_pixels(make_tasks(8, "train", kinds=CHARTS))
    first = augment(raw, torch.Generator().manual_seed(3))
    assert first.shape == raw.shape and first.dtype == torch.float32
    assert torch.equal(first, augment(raw, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, normalise(raw))
    # light backgrounds become dark for some charts (inversion), never for all
    corner = first[:, :, :4, -4:].mean(dim=(1, 2, 3))
    assert (corner < 0).any() and (corner > 0).any()


def test_unknown_trunks_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown image trunk"):
        ChartReader("vgg")


def test_a_chart_answer_carries_its_reading_and_the_values_it_used() -> None:
    from ponder.api.multimodal_convert import chart_answer_to_proto
    from ponder.multimodal.chart_questions import ChartRead, stated_values
    from ponder.v1 import ponder_pb2 as pb

    reading = ChartReading("bar", ("Jan", "Feb", "Mar"), (10, 40, 25), 50)
    answer = answer_question("Which month has the highest bar?", reading)
    assert answer is not None
    response = chart_answer_to_proto(answer, ChartRead(reading, "reader-x", 3), "req-1")
    assert (response.text, response.method) == ("Feb", pb.ANALYZE_METHOD_CHART_READING)
    assert [(v.label, v.value) for v in response.values_used] == [("Feb", 40.0)]
    assert [v.value for v in response.chart.values] == [10.0, 40.0, 25.0]
    assert response.weights_version == response.chart.reader_version == "reader-x"
    assert response.finish_reason == pb.FINISH_REASON_STOP and response.image_vectors == 0
    assert (
        stated_values((("Mar", 25), ("Jan", 10)), "bar") == "The Mar bar is 25. The Jan bar is 10."
    )
    assert stated_values((("Mar", 25),), "line") == "The line is at 25 in Mar."
    assert stated_values((("Mar", 25),)) == "The value of Mar is 25."
