"""Online scorer learning without services: labels, updates, the gate, API checks."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from ponder.api.learning_convert import outcome_from_proto
from ponder.errors import InvalidArgument
from ponder.learning.gate import GateSettings, Verdict, decide
from ponder.learning.online import (
    OnlineModel,
    UpdateSettings,
    calibration_error,
    metrics_of,
    next_version,
)
from ponder.learning.records import (
    SHARED_SCOPE,
    Outcome,
    PathRecord,
    ReasoningRecord,
    labelled_rows,
    scorer_scope,
)
from ponder.reasoning.path_scorer import PathScorer, load_scorer
from ponder.reasoning.paths import FEATURE_NAMES
from ponder.v1 import ponder_pb2 as pb

N = len(FEATURE_NAMES)


def _path(pid: str, status: str, answer: float | None, chosen: bool = False) -> PathRecord:
    rows = ((10.0 * len(pid),) * N, (10.0 * len(pid) + 1,) * N)  # row[0] // 10 = len(pid)
    return PathRecord(pid, "cot", status, answer, 0.3, chosen, rows)


RECORD = ReasoningRecord(
    "r1",
    SHARED_SCOPE,
    "1-abc",
    0,
    (
        _path("a", "completed", 5.0, chosen=True),
        _path("bb", "completed", 5.0),
        _path("ccc", "completed", 7.0),
        _path("dddd", "failed", None),
        _path("eeeee", "pruned", None),
    ),
)


def _labels(outcome: Outcome) -> dict[int, list[float]]:
    """Labels per path (keyed by the path id's length), one per step row."""
    rows, labels = labelled_rows(RECORD, outcome)
    by_path: dict[int, list[float]] = {}
    for row, label in zip(rows, labels, strict=True):
        by_path.setdefault(int(row[0]) // 10, []).append(label)
    return by_path


def test_labels_follow_the_reported_outcome() -> None:
    # Correct: the chosen and the agreeing path right, the disagreeing one wrong, the
    # failed one wrong, the pruned one unknown (no rows). Every step row is labelled.
    assert _labels(Outcome("r1", 1.0, None, 0)) == {
        1: [1.0, 1.0],
        2: [1.0, 1.0],
        3: [0.0, 0.0],
        4: [0.0, 0.0],
    }
    # Wrong, right answer unknown: the path that disagreed may have been right.
    assert _labels(Outcome("r1", 0.0, None, 0)) == {1: [0.0] * 2, 2: [0.0] * 2, 4: [0.0] * 2}
    # A soft reward labels the chosen and agreeing paths with it.
    assert _labels(Outcome("r1", 0.5, None, 0)) == {1: [0.5] * 2, 2: [0.5] * 2, 4: [0.0] * 2}
    # With the right answer every completed path is labelled against it; the chosen
    # path keeps the reported reward.
    assert _labels(Outcome("r1", 0.0, 7.0, 0)) == {
        1: [0.0, 0.0],
        2: [0.0, 0.0],
        3: [1.0, 1.0],
        4: [0.0, 0.0],
    }


def test_record_and_outcome_round_trip_through_json() -> None:
    assert ReasoningRecord.from_json(RECORD.to_json()) == RECORD
    outcome = Outcome("r1", 0.25, 3.5, 123)
    assert Outcome.from_json(outcome.to_json()) == outcome
    assert outcome.same_report(Outcome("r1", 0.25, 3.5, 999))
    assert not outcome.same_report(Outcome("r1", 1.0, 3.5, 123))


def _synthetic(n: int, seed: int) -> tuple[list[list[float]], list[float]]:
    """Rows whose label is decided by the first feature's sign (a learnable rule); like
    real rows, only the dense features vary (the hashed word-operator buckets are mostly
    zero)."""
    rng = random.Random(seed)
    dense = FEATURE_NAMES.index("word_operator_000")
    rows = [[rng.gauss(0, 1) if i < dense else 0.0 for i in range(N)] for _ in range(n)]
    labels = [float(row[0] + 0.3 * rng.gauss(0, 1) > 0) for row in rows]
    return rows, labels


def _blank_scorer() -> PathScorer:
    return PathScorer("1-blank", (0.0,) * N, 0.0, (0.0,) * N, (1.0,) * N, {})


def _trained(rows: list[list[float]], labels: list[float]) -> OnlineModel:
    model = OnlineModel.from_scorer(_blank_scorer(), UpdateSettings(learning_rate=0.2))
    for i in range(0, len(rows), 4):
        model.update(rows[i : i + 4], labels[i : i + 4])
    return model


def test_incremental_updates_move_the_model_toward_the_labels() -> None:
    rows, labels = _synthetic(400, seed=1)
    test_rows, test_labels = _synthetic(200, seed=2)
    model = OnlineModel.from_scorer(_blank_scorer(), UpdateSettings(learning_rate=0.2))
    before = metrics_of(model.predict(test_rows), test_labels)
    positive = [r for r, y in zip(test_rows, test_labels, strict=True) if y == 1.0]
    p_before = sum(model.predict(positive)) / len(positive)
    for i in range(0, len(rows), 4):
        model.update(rows[i : i + 4], labels[i : i + 4])
    after = metrics_of(model.predict(test_rows), test_labels)
    assert after.log_loss < before.log_loss - 0.2
    assert after.accuracy > 0.85
    assert sum(model.predict(positive)) / len(positive) > p_before + 0.2


def test_one_update_is_capped() -> None:
    model = OnlineModel.from_scorer(
        _blank_scorer(), UpdateSettings(learning_rate=100.0, max_step=0.1)
    )
    rows, labels = _synthetic(8, seed=3)
    assert model.update(rows, labels) == pytest.approx(0.1)
    norm = sum(w * w for w in model.weights) + model.bias**2
    assert norm == pytest.approx(0.01)


def test_shadow_gate_rejects_a_candidate_trained_on_flipped_labels() -> None:
    rows, labels = _synthetic(400, seed=4)
    heldout_rows, heldout_labels = _synthetic(200, seed=5)
    active = _trained(rows[:200], labels[:200])  # what is serving now
    good = _trained(rows, labels)
    flipped = _trained(rows, [1.0 - y for y in labels])
    gate = GateSettings(metric="log_loss", margin=0.0, min_examples=20)
    active_metrics = metrics_of(active.predict(heldout_rows), heldout_labels)
    bad = decide(active_metrics, metrics_of(flipped.predict(heldout_rows), heldout_labels), gate)
    assert bad.verdict is Verdict.REJECT
    ok = decide(active_metrics, metrics_of(good.predict(heldout_rows), heldout_labels), gate)
    assert ok.verdict is Verdict.PROMOTE
    by_accuracy = GateSettings(metric="accuracy", margin=0.0, min_examples=20)
    flipped_metrics = metrics_of(flipped.predict(heldout_rows), heldout_labels)
    assert decide(active_metrics, flipped_metrics, by_accuracy).verdict is Verdict.REJECT


def test_gate_defers_on_too_few_heldout_examples() -> None:
    metrics = metrics_of([0.9, 0.1], [1.0, 0.0])
    decision = decide(metrics, metrics, GateSettings(min_examples=3))
    assert decision.verdict is Verdict.DEFER


def test_calibration_error_and_versions() -> None:
    assert calibration_error([0.9] * 10, [1.0] * 9 + [0.0]) == pytest.approx(0.0)
    assert calibration_error([0.9] * 10, [0.0] * 10) == pytest.approx(0.9)
    model = OnlineModel.from_scorer(load_scorer(), UpdateSettings())
    assert next_version("1-9dd404a1", model).startswith("2-")
    assert next_version("7-x", model).startswith("8-")
    assert next_version("custom", model).startswith("1-")


def test_report_outcome_request_checks() -> None:
    ok = outcome_from_proto(pb.ReportOutcomeRequest(reasoning_id="r", correct=True))
    assert ok.reward == 1.0 and ok.correct_answer is None
    soft = outcome_from_proto(
        pb.ReportOutcomeRequest(reasoning_id="r", reward=0.4, correct_answer="1,250")
    )
    assert soft.reward == 0.4 and soft.correct_answer == 1250.0
    grouped = outcome_from_proto(
        pb.ReportOutcomeRequest(reasoning_id="r", correct=True, problem_group="  refund\n 7 ")
    )
    assert grouped.problem_group == "refund 7" and ok.problem_group == ""
    assert Outcome.from_json(grouped.to_json()) == grouped
    assert not grouped.same_report(replace(grouped, problem_group="refund 8"))
    bad = [
        (pb.ReportOutcomeRequest(correct=True), "reasoning_id"),
        (pb.ReportOutcomeRequest(reasoning_id="r"), "outcome"),
        (pb.ReportOutcomeRequest(reasoning_id="r", reward=1.5), "reward"),
        (pb.ReportOutcomeRequest(reasoning_id="r", reward=float("nan")), "reward"),
        (pb.ReportOutcomeRequest(reasoning_id="r", correct=False, correct_answer="x"), "correct"),
        (pb.ReportOutcomeRequest(reasoning_id="r" * 200, correct=True), "reasoning_id"),
        (
            pb.ReportOutcomeRequest(reasoning_id="r", correct=True, problem_group="g" * 129),
            "problem_group",
        ),
    ]
    for request, field in bad:
        with pytest.raises(InvalidArgument, match=f"^{field}"):
            outcome_from_proto(request)


def test_scorer_scope_per_tenant() -> None:
    assert scorer_scope("", per_tenant=True) == SHARED_SCOPE
    assert scorer_scope("acme", per_tenant=False) == SHARED_SCOPE
    assert scorer_scope("acme", per_tenant=True) == "tenant-acme"
    with pytest.raises(InvalidArgument, match="tenant"):
        scorer_scope("bad tenant!", per_tenant=True)
