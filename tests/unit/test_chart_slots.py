"""Reading labels where they are written (issue 28): the slot pooling lines up with where
the renderer puts each category, and the decoding keeps labels to what charts show."""

from __future__ import annotations

import torch

from ponder.multimodal.chart_reader import LABELS
from ponder.multimodal.chart_slots import decode_labels, slot_weights
from ponder.multimodal.chart_styles import StyleFamily
from ponder.multimodal.chart_tasks import MAX_CATEGORIES, SIZE, plot_area


def _style(font_size: int) -> object:
    import random

    from ponder.multimodal.chart_styles import draw_style

    rng = random.Random(font_size)
    while True:
        style = draw_style(rng, StyleFamily.SEEN)
        if style.font_size == font_size:
            return style


def test_each_slot_is_pooled_around_where_its_label_is_drawn() -> None:
    for font_size in (8, 14):
        area = plot_area(_style(font_size))  # type: ignore[arg-type]
        for categories in (4, 5, 6):
            for columns in (14, 28):
                weights = slot_weights(categories, columns)
                assert torch.allclose(weights[:categories].sum(-1), torch.ones(categories))
                assert not weights[categories:].any()
                for slot in range(categories):
                    left, width = area.slot(slot, categories)
                    drawn_at = int((left + width / 2) / (SIZE / columns))
                    peak = int(weights[slot].argmax())
                    assert abs(peak - drawn_at) <= 1, (font_size, categories, columns, slot)
    assert slot_weights(4, 28).shape == (MAX_CATEGORIES, 28)


def _log_probs(rows: list[dict[str, float]]) -> torch.Tensor:
    out = torch.full((len(rows), len(LABELS)), -8.0)
    for slot, row in enumerate(rows):
        for label, value in row.items():
            out[slot, LABELS.index(label)] = value
    return out


def test_months_are_read_as_a_run_and_items_never_repeat() -> None:
    # slot 2 alone would read "Nov" (May and Nov look alike); the run says Mar..Jun
    months = _log_probs([{"Mar": -0.1}, {"Apr": -0.2}, {"Nov": -0.5, "May": -0.9}, {"Jun": -0.1}])
    assert [LABELS[i] for i in decode_labels(months, LABELS)[0]] == ["Mar", "Apr", "May", "Jun"]
    assert [LABELS[int(i)] for i in months.argmax(-1)][2] == "Nov"
    # two slots both prefer "limes": the surer one keeps it, the other takes its next best
    items = _log_probs(
        [{"limes": -0.05}, {"limes": -0.6, "kiwis": -0.9}, {"figs": -0.1}, {"pears": -0.2}]
    )
    read = [LABELS[i] for i in decode_labels(items, LABELS)[0]]
    assert read == ["limes", "kiwis", "figs", "pears"]


def test_a_question_names_labels_the_reading_must_show_unless_none_can() -> None:
    # alone, the run reads Jan..Apr; a question about "May" makes Feb..May the reading
    shifted = _log_probs(
        [
            {"Jan": -0.4, "Feb": -1.2},
            {"Feb": -0.4, "Mar": -1.2},
            {"Mar": -0.4, "Apr": -1.2},
            {"Apr": -0.4, "May": -1.2},
        ]
    )
    alone = [LABELS[i] for i in decode_labels(shifted, LABELS)[0]]
    asked = [LABELS[i] for i in decode_labels(shifted, LABELS, named=("May",))[0]]
    assert (alone, asked) == (["Jan", "Feb", "Mar", "Apr"], ["Feb", "Mar", "Apr", "May"])
    # each slot alone is 0.67 sure of its month; the run Jan..Apr is surer than that, and
    # the run the question picks is as sure as it is among the runs showing May
    sure_alone = decode_labels(shifted, LABELS)[1]
    sure_asked = decode_labels(shifted, LABELS, named=("May",))[1]
    assert len(set(sure_alone)) == 1 and sure_alone[0] > 0.9
    assert len(set(sure_asked)) == 1 and sure_asked[0] > 0.9
    # an item the question names goes to the slot likeliest to show it
    items = _log_probs([{"limes": -0.1}, {"kiwis": -0.7, "figs": -1.0}, {"pears": -0.2}])
    asked = [LABELS[i] for i in decode_labels(items, LABELS, named=("figs",))[0]]
    assert asked == ["limes", "figs", "pears"]
    # labels no labelling can show together (a month and an item) are not forced
    assert decode_labels(items, LABELS, named=("figs", "Jan")) == decode_labels(items, LABELS)


def test_an_answer_is_as_sure_as_the_choices_it_rests_on() -> None:
    from ponder.multimodal.chart_questions import ChartReading, answer_question

    reading = ChartReading(
        "bar", ("Jan", "Feb", "Mar"), (10, 40, 25), 50, confidence=0.2, frame_sure=0.99,
        label_sure=(0.2, 0.9, 0.8), value_sure=(0.95, 0.7, 0.6),
    )  # fmt: skip
    value = answer_question("What is the value of the Feb bar?", reading)
    assert value is not None and (value.answer, value.confidence) == ("40", 0.7)
    # the largest rests on every value and on the chosen slot's label only
    largest = answer_question("Which month has the highest bar?", reading)
    assert largest is not None and (largest.answer, largest.confidence) == ("Feb", 0.6)
    difference = answer_question("How much higher is the Feb bar than the Jan bar?", reading)
    assert difference is not None and difference.confidence == 0.2  # Jan's label
    # without per-slot probabilities, the whole reading's confidence
    plain = ChartReading("bar", ("Jan", "Feb", "Mar"), (10, 40, 25), 50, confidence=0.3)
    answer = answer_question("What is the value of the Feb bar?", plain)
    assert answer is not None and answer.confidence == 0.3


def test_an_item_the_question_names_is_as_sure_as_its_slot_is_likeliest() -> None:
    # "figs" is unsure at slot 1 (0.37) but far likelier there than anywhere else
    items = _log_probs([{"limes": -0.1}, {"kiwis": -0.7, "figs": -1.0}, {"pears": -0.2}])
    labels, sure = decode_labels(items, LABELS, named=("figs",))
    assert [LABELS[i] for i in labels] == ["limes", "figs", "pears"]
    assert sure[1] > 0.9 and decode_labels(items, LABELS)[1][1] < 0.6
