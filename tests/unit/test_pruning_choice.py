"""bench/pruning.py: the rule chosen on the train split and what each rule changes."""

from __future__ import annotations

from bench.pruning import choose, rule_changes
from bench.reason import NO_PRUNING


def _row(rule: str, correct: int, tokens: float) -> dict[str, object]:
    return {"rule": rule, "correct": correct, "problems": 96, "tokens_per_problem": tokens}


def test_the_most_accurate_rule_wins_and_a_tie_goes_to_fewer_tokens() -> None:
    assert choose([_row("none", 50, 90.0), _row("0.2", 52, 60.0), _row("0.4", 51, 40.0)]) == "0.2"
    assert choose([_row("none", 52, 90.0), _row("0.2", 52, 60.0), _row("0.4", 50, 40.0)]) == "0.2"


def test_rules_change_only_the_pruning_fields() -> None:
    assert rule_changes("none") == NO_PRUNING
    assert rule_changes("0.4") == {"prune_below_best_fraction": 0.4}
