"""Training targets are exactly what the planner's constraints and parsers accept, and
they evaluate to the gold answer; the dev split never enters training."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path

import pytest

from ponder import env
from ponder.config import PlannerConfig
from ponder.generation import FinishReason, GenerationRequest, GenerationResult, TokenLogprob
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.formats import (
    NUMBER_REGEX,
    VERIFY_CHOICES,
    expression_regex,
    steps_regex,
)
from ponder.reasoning.path_scorer import PathScorer
from ponder.reasoning.paths import FEATURE_NAMES, PathStatus
from ponder.reasoning.plan import extract_conditions, parse_number, parse_strategies
from ponder.reasoning.problems import is_correct, load_problems, split_of
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import ReasonBudget
from ponder.reasoning.steps import parse_final_number
from ponder.training.domain_data import (
    TargetFormat,
    UnusableEquation,
    gsm8k_examples,
    infix,
    mawps_examples,
    parse_prefix,
    step_lines,
    training_mix,
    training_pool,
)
from tests.unit.data_marks import needs_data

DATA = env.data_dir()


def _rows(name: str, limit: int) -> list[dict]:
    lines = (DATA / name).read_text().splitlines()[:limit]
    return [json.loads(line) for line in lines if line.strip()]


def test_prefix_equations_render_with_the_fewest_parentheses() -> None:
    q = (8.0, 3.0, 5.0)
    assert infix(parse_prefix("* + number0 number1 number2"), q) == "(8 + 3) * 5"
    assert infix(parse_prefix("- number0 + number1 number2"), q) == "8 - (3 + 5)"
    assert infix(parse_prefix("+ number0 * number1 number2"), q) == "8 + 3 * 5"
    assert infix(parse_prefix("- - number0 number1 number2"), q) == "8 - 3 - 5"
    lines = step_lines(parse_prefix("* + number0 number1 number2"), q)
    assert lines == [(8.0, "+", 3.0, 11.0), (11.0, "*", 5.0, 55.0)]
    with pytest.raises(UnusableEquation):
        parse_prefix("* number0 100.0")  # constants are not the problem's numbers


def test_a_row_yields_every_format_in_the_planners_shape() -> None:
    row = {
        "question": "Tom has 3 boxes with 12 pens in each. He gives away 5 pens. "
        "How many pens does he have left?",
        "answer": 31.0,
        "equation": "- * number0 number1 number2",
    }
    examples = {e.format: e for e in mawps_examples(row, random.Random(0))}
    assert examples[TargetFormat.EXPRESSION].target == "3 * 12 - 5"
    assert examples[TargetFormat.STEPS].target == "3 * 12 = 36\n36 - 5 = 31\n"
    assert examples[TargetFormat.DIRECT].target == "31"
    assert examples[TargetFormat.WORKED].target == "3 * 12 = 36. 36 - 5 = 31. The answer is 31."
    assert "The numbers are: 3, 12, 5." in examples[TargetFormat.EXPRESSION].messages[-1].content


class TargetDecoder:
    """Answers every planner node with the training target for that node."""

    def __init__(self, targets: dict[TargetFormat, str], verify: str) -> None:
        self.targets = targets
        self.verify = verify

    async def complete(self, request: GenerationRequest, meter: object = None) -> GenerationResult:
        text = request.messages[-1].content
        if "one arithmetic expression" in text:
            out = self.targets[TargetFormat.EXPRESSION]
        elif "at most 3 steps" in text:
            out = self.targets[TargetFormat.STEPS]
        elif "Is this answer correct" in text:
            out = self.verify
        elif "step by step" in text:
            out = self.targets[TargetFormat.WORKED]
        else:
            out = self.targets[TargetFormat.DIRECT]
        # What vLLM would enforce: the node's constraint accepts the target.
        structured = request.sampling.structured
        if structured is not None and structured.regex is not None:
            assert re.fullmatch(structured.regex, out), (structured.regex, out)
        if structured is not None and structured.choice is not None:
            assert out in structured.choice
        return GenerationResult(out, 10, 3, FinishReason.STOP, (TokenLogprob(out, -0.1),))


def _scorer() -> PathScorer:
    n = len(FEATURE_NAMES)
    return PathScorer("t", (0.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, {})


@needs_data
def test_mawps_targets_drive_every_strategy_of_the_planner_to_the_gold_answer() -> None:
    rng = random.Random(0)
    checked = 0
    for row in _rows("mawps_asdiv_train.jsonl", 120):
        examples = mawps_examples(row, rng)
        by_format = {e.format: e for e in examples if e.format is not TargetFormat.VERIFY}
        if len(by_format) < 4:
            continue
        question, answer = str(row["question"]).strip(), float(row["answer"])
        planner = ReasoningPlanner(
            TargetDecoder({f: e.target for f, e in by_format.items()}, "yes"),
            _scorer,
            NoScoreCache(),
            PlannerConfig(prune_below=0.0, early_stop_agree=99),
        )
        budget = ReasonBudget(max_branches=4, strategies=parse_strategies([]))
        result = asyncio.run(planner.reason(question, budget, "t"))
        for path in result.paths:
            assert path.status is PathStatus.COMPLETED, (question, path.note)
            assert is_correct(path.answer, answer), (question, path.spec.strategy, path.answer)
        checked += 1
    assert checked >= 100  # nearly every row is usable


@needs_data
def test_verify_targets_say_yes_to_the_gold_answer_and_no_otherwise() -> None:
    rng = random.Random(0)
    seen = {"yes": 0, "no": 0}
    for row in _rows("mawps_asdiv_train.jsonl", 200):
        for example in mawps_examples(row, rng):
            if example.format is not TargetFormat.VERIFY:
                continue
            assert example.target in VERIFY_CHOICES
            proposed = parse_number(
                example.messages[-1].content.split("Proposed answer: ")[1].split(". Is")[0]
            )
            assert is_correct(proposed, float(row["answer"])) == (example.target == "yes")
            seen[example.target] += 1
    assert seen["yes"] > 150 and seen["no"] > 150


@needs_data
def test_gsm8k_targets_fit_the_constraints_and_reach_the_answer() -> None:
    for row in _rows("gsm8k_train.jsonl", 300):
        answer = parse_number(str(row["answer"]).rpartition("####")[2].strip())
        conditions = extract_conditions(str(row["question"]).strip())
        for example in gsm8k_examples(row):
            if example.format is TargetFormat.STEPS:
                assert re.fullmatch(steps_regex(conditions), example.target)
            else:
                assert example.format is TargetFormat.WORKED
                assert is_correct(parse_final_number(example.target), answer or 0.0)


@needs_data
def test_constraints_of_other_formats_accept_their_targets() -> None:
    rng = random.Random(1)
    for row in _rows("mawps_asdiv_train.jsonl", 300):
        conditions = extract_conditions(str(row["question"]).strip())
        for example in mawps_examples(row, rng):
            if example.format is TargetFormat.EXPRESSION:
                assert re.fullmatch(expression_regex(conditions), example.target)
            elif example.format is TargetFormat.DIRECT:
                assert re.fullmatch(NUMBER_REGEX, example.target)


def test_split_is_stable() -> None:
    # A fixed content hash decides the split: the same question always lands the same way.
    assert split_of("Tom has 3 apples and buys 5 more. How many apples does he have?") == (
        split_of("Tom has 3 apples and buys 5 more. How many apples does he have?")
    )
    buckets = [split_of(f"question {i}") for i in range(2000)]
    assert 0.07 < buckets.count("dev") / len(buckets) < 0.13
    assert split_of("question 0") == "train" and split_of("question 2") == "dev"


@needs_data
def test_training_never_sees_the_dev_split() -> None:
    pool = training_pool(DATA, seed=0)
    trained = {e.question for examples in pool.values() for e in examples}
    dev = {p.question for p in load_problems(Path(DATA / "mawps_asdiv_train.jsonl"), "dev")}
    assert len(dev) > 250
    assert not trained & dev
    mix = training_mix(pool, 600, seed=0)
    assert len(mix) == 600 and mix == training_mix(pool, 600, seed=0)  # reproducible
    counts = {fmt: sum(e.format is fmt for e in mix) for fmt in TargetFormat}
    assert counts[TargetFormat.EXPRESSION] > counts[TargetFormat.DIRECT] > 0


@needs_data
def test_a_jobs_mix_setting_shapes_the_draw() -> None:
    from pydantic import ValidationError

    from ponder.training.local_run import draw_examples
    from ponder.training.settings import StudentTrainingConfig

    default, default_counts, _ = draw_examples(StudentTrainingConfig(examples=600), DATA)
    assert default == training_mix(training_pool(DATA, seed=0), 600, seed=0)  # empty = default
    settings = StudentTrainingConfig(examples=600, mix={"worked": 3, "expression": 1})
    drawn, counts, _ = draw_examples(settings, DATA)
    assert counts == {"worked": 450, "expression": 150}  # relative weights, nothing else
    assert all(e.format in (TargetFormat.WORKED, TargetFormat.EXPRESSION) for e in drawn)
    assert default_counts["worked"] < counts["worked"]
    for bad in ({"worked": -1.0}, {"worked": 0.0}, {"chain": 1.0}):
        with pytest.raises(ValidationError):
            StudentTrainingConfig(mix=bad)
