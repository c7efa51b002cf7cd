"""The robustness sets: every variant's equation recomputes its answer over the numbers the
planner finds, each perturbation does what it says, the sets are deterministic, and a
train-split augmentation never takes a dev parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder import env
from ponder.reasoning.plan import extract_conditions
from ponder.reasoning.problems import split_of
from ponder.reasoning.robustness import (
    GSM8K_TWO_STEP,
    Perturbation,
    Variant,
    check_variant,
    gsm8k_two_step,
    perturb_problems,
)
from ponder.reasoning.robustness_text import REWRITES
from ponder.training.domain_data import read_rows
from tests.unit.data_marks import needs_data

DATA = env.data_dir()
GENERATED = Path(__file__).resolve().parents[2] / "bench" / "data"


def _row(row_id: str, question: str, equation: str, answer: float) -> dict[str, object]:
    assert split_of(question) == "dev", f"{row_id} must hash to the dev split"
    return {"id": row_id, "question": question, "equation": equation, "answer": answer}


def _one(row: dict[str, object], kind: Perturbation, seed: int = 0) -> Variant | None:
    variants = perturb_problems([row], [kind], seed=seed)
    assert all(check_variant(v) for v in variants)
    return variants[0] if variants else None


def test_distractor_adds_a_new_number_before_the_question_and_reindexes() -> None:
    row = _row(
        "fred",
        "Fred has 12 pens. How many pens does Fred have if Fred buys 5 more pens?",
        "+ number0 number1",
        17.0,
    )
    variant = _one(row, Perturbation.DISTRACTOR)
    assert variant is not None
    assert variant.id == "fred/distractor" and variant.parent_id == "fred"
    quantities = extract_conditions(variant.question).quantities
    assert quantities[0] == 12 and quantities[2] == 5 and len(quantities) == 3
    assert quantities[1] not in (12.0, 5.0, 17.0)
    assert variant.question.startswith(f"Fred has 12 pens. Fred also has {quantities[1]:g} ")
    assert variant.equation == "+ number0 number2" and variant.answer == 17.0


def test_distractor_goes_first_when_the_question_says_them() -> None:
    row = _row(
        "ned",
        "Ned had 12 pencils. if she used 4 of them how many would she have left?",
        "- number0 number1",
        8.0,
    )
    variant = _one(row, Perturbation.DISTRACTOR)
    assert variant is not None
    # A noun-less question gets the ownerless sentence, placed where "them" cannot reach it.
    assert variant.question.startswith("There are ")
    assert variant.question.endswith(row["question"])  # type: ignore[arg-type]
    assert variant.equation == "- number1 number2" and variant.answer == 8.0


def test_renumber_recomputes_an_exact_integer_answer() -> None:
    row = _row(
        "maria",
        "Maria made 75 cookies. Maria put 3 cookies in each bag. How many bags could Maria fill?",
        "/ number0 number1",
        25.0,
    )
    for seed in range(5):
        variant = _one(row, Perturbation.RENUMBER, seed)
        assert variant is not None
        cookies, per_bag = extract_conditions(variant.question).quantities
        assert (cookies, per_bag) != (75.0, 3.0)
        assert cookies % per_bag == 0 and variant.answer == cookies / per_bag > 0
        assert variant.equation == "/ number0 number1"
        assert variant.question.startswith(f"Maria made {cookies:g} cookies. Maria put {per_bag:g}")


def test_renumber_keeps_an_inner_division_exact() -> None:
    row = _row(
        "sara",
        "Sara packs 24 apples into 4 bags with the same number in each. Sara gives away 3 bags. "
        "How many apples does Sara give away?",
        "* / number0 number1 number2",
        18.0,
    )
    for seed in range(10):
        variant = _one(row, Perturbation.RENUMBER, seed)
        assert variant is not None
        apples, bags, given = extract_conditions(variant.question).quantities
        assert apples % bags == 0 and variant.answer == apples / bags * given
        assert given < bags < apples  # the order of the quantities is kept


def test_renumber_keeps_numbers_the_equation_does_not_use() -> None:
    row = _row(
        "sandy",
        "Sandy picked 2 pumpkins. The first pumpkin weighed 4 pounds, and the second pumpkin "
        "weighed 8 pounds. How much did the 2 pumpkins weigh all together?",
        "+ number1 number2",
        12.0,
    )
    variant = _one(row, Perturbation.RENUMBER)
    assert variant is not None
    count, first, second, again = extract_conditions(variant.question).quantities
    assert (count, again) == (2.0, 2.0) and (first, second) != (4.0, 8.0)
    assert variant.answer == first + second


def test_reorder_swaps_parallel_sentences_and_reindexes() -> None:
    row = _row(
        "lou",
        "Sandy grew 9 carrots. Lou grew 3 carrots. How many more carrots did Sandy grow than Lou?",
        "- number0 number1",
        6.0,
    )
    variant = _one(row, Perturbation.REORDER)
    assert variant is not None
    assert variant.question == (
        "Lou grew 3 carrots. Sandy grew 9 carrots. How many more carrots did Sandy grow than Lou?"
    )
    assert variant.equation == "- number1 number0" and variant.answer == 6.0


def test_reorder_swaps_conjuncts_inside_a_sentence() -> None:
    row = _row(
        "sue",
        "There were 39 girls and 4 boys trying out for Sue 's team. If only 26 of them got called "
        "back, how many students did not make the cut?",
        "- + number0 number1 number2",
        17.0,
    )
    variant = _one(row, Perturbation.REORDER)
    assert variant is not None
    assert variant.question.startswith("There were 4 boys and 39 girls trying out for Sue 's team.")
    assert variant.equation == "- + number1 number0 number2" and variant.answer == 17.0


def test_reorder_leaves_a_sequence_of_events_alone() -> None:
    row = _row(
        "max",
        "Max had 5 dimes. Keith took 2 dimes. How many dimes does Max have?",
        "- number0 number1",
        3.0,
    )
    assert _one(row, Perturbation.REORDER) is None


def test_question_swap_asks_for_the_hidden_operand() -> None:
    row = _row(
        "amy",
        "Amy had 12 pencils. She used 4 of them. How many pencils does she have left?",
        "- number0 number1",
        8.0,
    )
    variant = _one(row, Perturbation.QUESTION_SWAP)
    assert variant is not None
    assert variant.question == (
        'Amy had some pencils. She used 4 of them. In the end, the answer to "How many pencils '
        'does she have left?" is 8. What number does "some" stand for in this problem?'
    )
    assert variant.answer == 12.0 and variant.equation == "+ number1 number0"


def test_question_swap_inverts_a_division_for_the_divisor() -> None:
    row = _row(
        "sue-books",
        "Sue has $ 40. A book costs 5 dollars. How many books can she buy?",
        "/ number0 number1",
        8.0,
    )
    variant = _one(row, Perturbation.QUESTION_SWAP)
    assert variant is not None
    assert "A book costs some dollars." in variant.question
    assert extract_conditions(variant.question).quantities == (40.0, 8.0)
    assert variant.answer == 5.0 and variant.equation == "/ number0 number1"


def test_question_swap_skips_a_number_that_appears_twice() -> None:
    row = _row(
        "tom",
        "Tom has 5 apples and 5 pears. How many fruits does Tom have?",
        "+ number0 number1",
        10.0,
    )
    assert _one(row, Perturbation.QUESTION_SWAP) is None


@pytest.mark.parametrize(
    ("sentence", "paraphrase"),
    [
        ("How many pears were picked in all?", "How many pears were picked altogether?"),
        (
            "How many pages does the book have altogether?",
            "How many pages does the book have in all?",
        ),
        ("How many cans did she have?", "What number of cans did she have?"),
        ("How much money did she earn?", "What amount of money did she earn?"),
        ("How much did Tom spend on games?", "What amount did Tom spend on games?"),
        ("How many pears were picked today?", "Find the number of pears that were picked today."),
        (
            "How many people are there on the bus?",
            "Find the number of people there are on the bus.",
        ),
        ("What is the total of the bill?", "Compute the total of the bill."),
    ],
)
def test_each_rewrite_rule(sentence: str, paraphrase: str) -> None:
    assert paraphrase in {rule(sentence) for rule in REWRITES}


@pytest.mark.parametrize(
    ("sentence", "rewrites"),
    [
        ("How much longer will he take?", set()),  # not "what amount of longer"
        ("How many cubes long are both pencils?", set()),
        # inverted ("were they"): no "Find the number of newspapers that were they able ..."
        (
            "How many newspapers were they able to collect?",
            {"What number of newspapers were they able to collect?"},
        ),
    ],
)
def test_rewrite_rules_leave_awkward_forms_alone(sentence: str, rewrites: set[str]) -> None:
    assert {rule(sentence) for rule in REWRITES} - {None} == rewrites


def test_paraphrase_rewrites_only_the_question_and_falls_back_to_a_prefix() -> None:
    bill = _row(
        "bo",
        "Bo spent $ 1.08 on soup and $ 4.8 on a salad. What was the total of the lunch bill?",
        "+ number0 number1",
        5.88,
    )
    variant = _one(bill, Perturbation.PARAPHRASE)
    assert variant is not None
    assert variant.question == (
        "Bo spent $ 1.08 on soup and $ 4.8 on a salad. Compute the total of the lunch bill."
    )
    assert variant.equation == "+ number0 number1" and variant.answer == 5.88
    skate = _row(
        "ned-skates",
        "If Ned skated 80 kilometers at 10 kilometers per hour, how long was Ned skating?",
        "/ number0 number1",
        8.0,
    )
    variant = _one(skate, Perturbation.PARAPHRASE)
    assert variant is not None and variant.question == f"Please answer: {skate['question']}"


def test_check_variant_rejects_a_wrong_equation_or_answer() -> None:
    good = Variant("x", "x", "renumber", "Tom has 3 boxes of 4 pens.", 12.0, "* number0 number1")
    assert check_variant(good)
    assert not check_variant(Variant(**{**good.__dict__, "answer": 13.0}))
    assert not check_variant(Variant(**{**good.__dict__, "equation": "* number0 number2"}))
    assert not check_variant(Variant(**{**good.__dict__, "equation": "* number0 4"}))


@needs_data
def test_variants_are_deterministic_in_the_seed() -> None:
    rows = read_rows(DATA / "mawps_asdiv_train.jsonl")
    first = perturb_problems(rows, seed=0)
    assert first == perturb_problems(rows, seed=0)
    renumbered = perturb_problems(rows, [Perturbation.RENUMBER], seed=1)
    assert renumbered != [v for v in first if v.kind == "renumber"]


@needs_data
def test_train_augmentation_never_takes_a_dev_parent() -> None:
    rows = read_rows(DATA / "mawps_asdiv_train.jsonl")
    dev_ids = {str(r["id"]) for r in rows if split_of(str(r["question"]).strip()) == "dev"}
    train = perturb_problems(rows[:600], seed=0, split="train")
    assert len(train) > 1000
    parents = {v.parent_id for v in train}
    assert not parents & dev_ids
    assert parents <= {str(r["id"]) for r in rows[:600]} and len(parents) > 400


@needs_data
def test_the_generated_set_is_in_sync_and_every_variant_checks() -> None:
    rows = read_rows(DATA / "mawps_asdiv_train.jsonl")
    dev_ids = {str(r["id"]) for r in rows if split_of(str(r["question"]).strip()) == "dev"}
    lines = (GENERATED / "robust-dev.jsonl").read_text().splitlines()
    stored = [Variant(**json.loads(line)) for line in lines]
    assert stored == perturb_problems(rows, seed=0), "rerun python -m ponder.reasoning.robustness"
    assert all(check_variant(v) for v in stored)
    assert {v.parent_id for v in stored} <= dev_ids
    assert len({v.id for v in stored}) == len(stored)
    counts = {kind.value: sum(v.kind == kind.value for v in stored) for kind in Perturbation}
    assert min(counts.values()) >= 30 and counts["distractor"] >= 200


def test_gsm8k_two_step_keeps_dev_rows_with_exactly_two_calculations() -> None:
    two = "Kim buys 3 boxes of 4 apples and eats 2 of them. How many apples are left?"
    three = "Max buys 3 boxes of 4 apples, eats 2 and gives away 5. How many apples are left?"
    train = "Tom buys 2 bags of 6 pears and eats 1 of them. How many pears are left?"
    assert (split_of(two), split_of(three), split_of(train)) == ("dev", "dev", "train")
    rows: list[dict[str, object]] = [
        {"question": three, "answer": "<<3*4=12>> <<12-2=10>> <<10-5=5>>\n#### 5"},
        {"question": train, "answer": "<<2*6=12>> <<12-1=11>>\n#### 11"},
        {"question": two, "answer": "He has 3*4=<<3*4=12>>12. 12-2=<<12-2=10>>10 left.\n#### 10"},
    ]
    chosen = gsm8k_two_step(rows)
    assert chosen == [Variant("gsm8k-dev-2", "gsm8k-dev-2", GSM8K_TWO_STEP, two, 10.0, "")]


@needs_data
def test_the_generated_gsm8k_set_is_in_sync() -> None:
    stored = [json.loads(line) for line in (GENERATED / "gsm8k-two-step-dev.jsonl").open()]
    expected = gsm8k_two_step(read_rows(DATA / "gsm8k_train.jsonl"))
    assert [Variant(**row) for row in stored] == expected and len(expected) > 100
    assert all(row["kind"] == "gsm8k_two_step" and row["equation"] == "" for row in stored)
