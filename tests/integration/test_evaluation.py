"""`ponder eval`'s harness (ponder.evaluation.compare_methods) through the platform: every
method answers every problem, tokens are counted, and self-consistency fans out at
Reason's budget."""

from __future__ import annotations

import pytest

from ponder.api.client import PonderClient
from ponder.evaluation.compare_methods import METHODS, evaluate
from ponder.reasoning.problems import Problem

pytestmark = pytest.mark.integration

PROBLEMS = [
    Problem("Tom has 3 apples and buys 4 more. How many apples does Tom have?", 7.0, "test"),
    Problem("A box holds 12 pens. Sara gives away 5 of them. How many pens are left?", 7.0, "test"),
]


def test_every_method_answers_every_problem_and_counts_its_tokens(client: PonderClient) -> None:
    result = evaluate(client, PROBLEMS, list(METHODS), 2, 1024, 4, progress=lambda _: None)
    reports = {r["method"]: r for r in result["reports"]}  # type: ignore[attr-defined]
    assert list(reports) == list(METHODS)
    for method, report in reports.items():
        assert report["problems"] == len(PROBLEMS), method
        assert report["errors"] == 0, method
        assert report["tokens_per_problem"] > 0, method
        assert 0 <= report["correct"] <= len(PROBLEMS)
    # Four chain-of-thought samples of up to 256 tokens: Reason's 1 024-token budget.
    assert result["self_consistency_samples"] == 4
    assert reports["self-consistency"]["tokens_per_problem"] <= 4 * 256
    outcomes = result["outcomes"]["cot"]  # type: ignore[index]
    assert len(outcomes) == len(PROBLEMS)
    assert all(o["tokens"] <= 256 for o in outcomes)
