"""What an outcome-driven model refresh trains on: the verified paths of logged outcomes
(the sampled programs that reach the right answer) in the pot branch's own prompt, and
rehearsed train-split pot examples; and the refresh settings the training workers read."""

from __future__ import annotations

from ponder.learning.ranker_examples import RankerExample
from ponder.learning.refresh_data import (
    CORRECTION_SOURCE,
    SOURCE,
    rehearsal,
    verified_examples,
)
from ponder.reasoning.answer_features import SampledProgram
from ponder.reasoning.formats import expression_instruction, problem_messages
from ponder.reasoning.plan import extract_conditions
from ponder.training.domain_data import Example, TargetFormat
from ponder.training.settings import AdapterTrainingConfig, RefreshTrainingConfig

BOXES = "A box holds 12 pens. How many pens are in 4 boxes?"


def logged(problem: str, right: float, *programs: tuple[str, float, bool, float]) -> RankerExample:
    return RankerExample(
        problem,
        tuple(SampledProgram(p, value, logprob, greedy) for p, value, greedy, logprob in programs),
        right,
    )


def test_verified_paths_are_the_programs_that_reach_the_right_answer() -> None:
    example = logged(
        BOXES,
        48.0,
        ("12 / 4", 3.0, True, -0.1),  # wrong: never a target
        ("4 * 12", 48.0, False, -0.6),
        ("12 * 4", 48.0, False, -0.2),
        ("12 * 4", 48.0, False, -0.2),  # the same program twice counts once
        ("12*4 + 0", 48.0, False, -0.9),
    )
    found = verified_examples([example], per_problem=2)
    assert [e.target for e in found] == ["12 * 4", "4 * 12"]  # by log-probability, capped
    quantities = extract_conditions(BOXES).quantities
    assert all(
        e.messages == problem_messages(BOXES, expression_instruction(quantities)) for e in found
    )  # the planner's own pot prompt
    assert {e.format for e in found} == {TargetFormat.EXPRESSION}
    assert {e.source for e in found} == {CORRECTION_SOURCE}  # the greedy program was wrong
    # corrections can weigh more; a problem the greedy program got right does not repeat
    repeated = verified_examples([example], per_problem=2, correction_repeats=3)
    assert [e.target for e in repeated] == ["12 * 4"] * 3 + ["4 * 12"] * 3
    right_first = logged(BOXES, 48.0, ("12 * 4", 48.0, True, -0.1))
    assert [e.source for e in verified_examples([right_first], correction_repeats=3)] == [SOURCE]


def test_the_greedy_right_program_comes_first_and_a_problem_counts_once() -> None:
    first = logged(BOXES, 48.0, ("4 * 12", 48.0, False, -0.1), ("12 * 4", 48.0, True, -0.5))
    again = logged("  " + BOXES.upper(), 48.0, ("12 * 4", 48.0, True, -0.1))
    assert [e.target for e in verified_examples([first, again], per_problem=1)] == ["12 * 4"]


def test_a_problem_with_no_right_program_gives_nothing() -> None:
    assert verified_examples([logged(BOXES, 48.0, ("12 / 4", 3.0, True, -0.1))]) == []


def test_rehearsal_draws_only_pot_examples_reproducibly() -> None:
    pool = [
        Example(f"q{i}", fmt, (), "1 + 2", "mawps_asdiv")
        for i in range(20)
        for fmt in (TargetFormat.EXPRESSION, TargetFormat.VERIFY)
    ]
    drawn = rehearsal(pool, 5, seed=3)
    assert len(drawn) == 5 and {e.format for e in drawn} == {TargetFormat.EXPRESSION}
    assert drawn == rehearsal(pool, 5, seed=3) and drawn != rehearsal(pool, 5, seed=4)


def test_refresh_settings_hand_the_workers_plain_adapter_settings() -> None:
    settings = RefreshTrainingConfig(rank=8, per_problem=3)
    adapter = settings.adapter_settings()
    assert type(adapter) is AdapterTrainingConfig
    assert adapter.rank == 8 and adapter.name_prefix == "refresh"


def test_search_teaches_the_one_program_that_reaches_the_reported_answer() -> None:
    kites = (
        "Tom has 5 apples. There are 37 kites in the shop. Tom buys 8 more apples. "
        "How many apples does Tom have?"
    )
    missed = logged(kites, 13.0, ("5 + 37", 42.0, True, -0.1), ("37 + 8", 45.0, False, -0.3))
    assert verified_examples([missed]) == []  # no sample was right: nothing by default
    (taught,) = verified_examples([missed], search_unique=True)
    assert taught.target == "5 + 8" and taught.source == CORRECTION_SOURCE
    # several short programs reach 4 from 2 and 2 (2 + 2, 2 * 2): none is taught
    twos = logged("Tom has 2 apples and buys 2 more. How many apples does he have?", 4.0)
    assert verified_examples([twos], search_unique=True) == []
