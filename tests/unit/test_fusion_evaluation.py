"""The fusion's held-out set and its scoring: balanced classes, the majority baseline and
per-class figures that expose a model answering one class all the time."""

from __future__ import annotations

from collections import Counter

from ponder.multimodal.fusion_training import _scored, majority_classes
from ponder.multimodal.synthetic import CLASSES, answer_class, make_examples


def test_balanced_held_out_set_has_every_class_equally_often() -> None:
    examples = make_examples(108, seed=8, balanced=True)  # 36 per kind: 4, 2 and 3 classes
    for kind, classes in CLASSES.items():
        counts = Counter(answer_class(e) for e in examples if e.kind == kind)
        assert len(counts) == classes and len(set(counts.values())) == 1, (kind, counts)
    for example in examples:  # the moved maximum is still the answer
        if example.kind == "table":
            assert example.table is not None
            values = [int(value) for _, value in example.table.rows]
            assert example.options[values.index(max(values))] == example.answer


def test_unbalanced_sets_are_unchanged_by_the_balanced_option() -> None:
    # The training set (seed 7) the packaged weights were fitted on stays reproducible.
    plain = make_examples(30, seed=7)
    assert [answer_class(e) for e in plain] != [
        answer_class(e) for e in make_examples(30, seed=7, balanced=True)
    ]
    assert plain == make_examples(30, seed=7)


def test_scoring_shows_a_constant_answer_as_one_predicted_class() -> None:
    pairs = [("rising", "falling"), ("falling", "falling"), ("falling", "falling")]
    scored = _scored(pairs)
    assert (scored["k"], scored["n"]) == (2, 3)
    assert scored["per_class"] == {"falling": "2/2", "rising": "0/1"}
    assert scored["predicted"] == {"falling": 3}
    assert scored["ci95"][0] < 2 / 3 < scored["ci95"][1]


def test_majority_class_comes_from_the_examples_given() -> None:
    examples = make_examples(60, seed=7)
    majority = majority_classes(examples)
    for kind, label in majority.items():
        counts = Counter(answer_class(e) for e in examples if e.kind == kind)
        assert counts[label] == max(counts.values())
