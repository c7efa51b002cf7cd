"""What each quantity counts and which way it moves: units read from the words after a
number, rates per something counted, a program evaluated over units, the verdict on its
result against the question, and transfer signs towards the asked person; and the ranker
rows that carry them."""

from __future__ import annotations

import pytest

from ponder.reasoning.answer_features import (
    FEATURE_NAMES,
    SampledProgram,
    candidate_rows,
    candidates,
    doubted,
    read_problem,
)
from ponder.reasoning.plan import extract_conditions
from ponder.reasoning.quantity_roles import (
    QuantityUnit,
    asks_per_thing,
    check_units,
    read_asked_unit,
    read_units,
    result_verdict,
    singular,
)

BOXES = "A box holds 12 pens. How many pens are in 4 boxes?"
JACK = (
    "Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. "
    "How many pens does Jack have now?"
)
RACHEL = (
    "Rachel bought 7 books for 4 dollars each. She also has 12 pencils. "
    "How much did she spend on books?"
)
VANS = (
    "If each van can hold 5 people and there are 25 students and 5 adults going, "
    "how many vans will they need?"
)


def units_of(problem: str) -> tuple[QuantityUnit, ...]:
    return read_units(problem, extract_conditions(problem).question)


@pytest.mark.parametrize(
    ("word", "expected"),
    [("boxes", "box"), ("berries", "berry"), ("pens", "pen"), ("glass", "glass"), ("bus", "bus")],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_units_read_counts_and_rates() -> None:
    assert units_of(BOXES) == (QuantityUnit("pen", "box"), QuantityUnit("box"))
    # "each" is per the thing counted before it in the sentence; pencils are a count
    assert units_of(RACHEL) == (
        QuantityUnit("book"),
        QuantityUnit("dollar", "book"),
        QuantityUnit("pencil"),
    )
    # "$3 per pound", and a measure before a noun: "9 dollar games" is a dollar per game
    assert units_of("Apples cost $3 per pound. Tom buys 5 pounds. How much does he pay?")[0] == (
        QuantityUnit("dollar", "pound")
    )
    priced = units_of("Sam had 8 dollars. How many 3 dollar toys could he buy?")
    assert priced[1] == QuantityUnit("dollar", "toy")
    # per the thing the question asks to count, even when no number counts it
    assert units_of(VANS)[0] == QuantityUnit("people", "van")


def test_a_rate_needs_something_counted() -> None:
    """'A farmer has 12 cows' is no rate per farmer: nothing counts farmers."""
    assert units_of("A farmer has 12 cows. He buys 3 cows. How many cows does he have?") == (
        QuantityUnit("cow"),
        QuantityUnit("cow"),
    )


def test_units_stop_at_verbs_numbers_and_names() -> None:
    found = units_of(
        "There were 10 students riding on the bus. 3 students got off. They caught 30 pikes "
        "40 sturgeons. How many students are left?"
    )
    assert [u.counts for u in found] == ["student", "student", "pike", "sturgeon"]


def test_asked_unit() -> None:
    assert read_asked_unit("How many pens are in 4 boxes?", units_of(BOXES)) == "pen"
    assert read_asked_unit("How much did she spend on books?", units_of(RACHEL)) == "dollar"
    assert read_asked_unit("How much does it weigh?", units_of(BOXES)) == ""
    assert asks_per_thing("How many tickets did each person buy?")
    assert not asks_per_thing("How many tickets did they buy?")


def test_programs_evaluated_over_units() -> None:
    units, quantities = units_of(BOXES), (12.0, 4.0)
    product = check_units("12 * 4", quantities, units)
    assert (product.mismatches, product.result) == (0, {"pen": 1})
    assert check_units("12 / 4", quantities, units).result == {"pen": 1, "box": -2}
    assert check_units("12 + 4", quantities, units).mismatches == 1  # pens per box + boxes
    # unlike counts may add up (roses and carnations are flowers): no mismatch
    flowers = units_of("I had 6 carnations and 19 roses. How many flowers do I have?")
    assert check_units("6 + 19", (6.0, 19.0), flowers).mismatches == 0
    # a number the problem does not give is a pure number; an unreadable program is unread
    assert check_units("12 * 4 * 2", quantities, units).result == {"pen": 1}
    assert check_units("12 *", quantities, units).result is None


def test_result_verdict() -> None:
    boxes = units_of(BOXES)
    assert result_verdict({"pen": 1}, "pen", boxes, False) == 1
    assert result_verdict({"pen": 1, "box": -2}, "pen", boxes, False) == -1  # not a count
    assert result_verdict({"box": 1}, "pen", boxes, False) == -1  # the containers
    assert result_verdict({"rose": 1}, "flower", boxes, False) == 0  # maybe a kind of it
    assert result_verdict({"pen": 1, "box": 1}, "pen", boxes, False) == 0  # an unread rate
    assert result_verdict({"pen": 1, "box": -1}, "pen", boxes, True) == 1  # pens in each box
    assert result_verdict(None, "pen", boxes, False) == 0


def _signs(problem: str) -> tuple[int, ...]:
    return read_problem(problem).signs


def test_transfer_signs_follow_the_asked_person() -> None:
    assert _signs(JACK) == (0, 0, -1)
    assert _signs(JACK.replace("does Jack have", "does Mary have")) == (0, 0, 1)
    # a pronoun subject is the last name before it; one person alone is the asked one
    tom = "Tom had 9 apples. He ate 4 apples. Then he found 2 apples. How many are left?"
    assert _signs(tom) == (0, -1, 1)


def test_transfer_signs_read_who_gives_to_whom() -> None:
    # the receiver named after the verb gains ("gives Charles 39", "gave her 40")
    charles = "Charles has 4 apples. Jessica gives Charles 39 more. How many does Charles have?"
    assert _signs(charles) == (0, 1)
    faye = (
        "Faye had 47 pieces of candy. She ate 25 pieces and then her sister gave her 40 more "
        "pieces. How many pieces does Faye have now?"
    )
    assert _signs(faye) == (0, -1, 1)
    # a verb of an earlier clause with its own subject does not reach the next one
    two = "Tom bought 3 apples and Mary had 5 pears. How many fruits does Tom have?"
    assert _signs(two) == (1, 0)
    # a number that is its clause's subject does not move
    broken = "Tom found 7 seashells but 4 were broken. How many unbroken ones did Tom have?"
    assert _signs(broken)[1] == 0


def test_a_question_about_the_start_turns_the_signs_round() -> None:
    start = (
        "Tommy had some balloons. His mom gave him 34 more. Then Tommy had 60 balloons. "
        "How many balloons did Tommy have to start with?"
    )
    assert _signs(start) == (-1, 0)


def test_a_question_about_the_transfer_itself_reads_no_signs() -> None:
    mary = "Mary paid $ 11.08 for berries and $ 9.31 for peaches. How much money did Mary spend?"
    assert _signs(mary) == (0, 0)


def test_rows_carry_units_and_transfers() -> None:
    def row_of(problem: str, program: str) -> dict[str, float]:
        reading = read_problem(problem)
        found = candidates(reading, [SampledProgram(program, float(eval(program)))], False)
        return dict(zip(FEATURE_NAMES, candidate_rows(reading, found)[0], strict=True))

    assert row_of(BOXES, "12 * 4")["unit_is_asked"] == 1.0
    assert row_of(BOXES, "12 / 4")["unit_not_asked"] == 1.0
    assert row_of(BOXES, "12 + 4")["unit_mismatch"] == 1.0
    assert row_of(JACK, "8 - 3")["transfer_agrees"] == 1.0
    assert row_of(JACK, "8 + 3")["transfer_disagrees"] == 1.0
    assert row_of(RACHEL, "7 * 4")["unit_is_asked"] == 1.0


@pytest.mark.parametrize(
    ("problem", "program", "expected"),
    [
        (BOXES, "12 / 4", True),  # pens per box per box
        (BOXES, "12 + 4", True),  # pens plus boxes
        (BOXES, "12 * 4", False),
        (JACK, "8 + 3", True),  # Jack gains what he gave away
        (JACK, "8 - 3", False),
        (RACHEL, "7 * 4", False),
    ],
)
def test_doubted_programs(problem: str, program: str, expected: bool) -> None:
    assert doubted(read_problem(problem), program) is expected
