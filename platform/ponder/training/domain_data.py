"""Supervised examples for the domain adapter, in exactly the planner's formats.

Sources (../shared/data):
- MAWPS/ASDiv rows carry `equation`, prefix notation over number0..N (the question's
  numbers in order). From it: the program-of-thought expression, the decompose lines, a
  short worked answer, the bare number, and yes/no verification (negatives from the same
  expression with one operator changed).
- GSM8K rows carry worked solutions with `<<a*b=c>>` calculations. From them: the worked
  answer (calculations stripped) and, where every calculation is one binary step over the
  problem's numbers or earlier results, decompose lines.

Every target is checked against the constraint the planner decodes it under and must
evaluate to the gold answer, so nothing is trained that the planner could not produce.
The dev split (`ponder.reasoning.problems.split_of`, by content hash) is never used.
"""

from __future__ import annotations

import enum
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ponder.generation import ChatMessage
from ponder.reasoning.arithmetic import UnsafeExpression, evaluate
from ponder.reasoning.formats import (
    COT_INSTRUCTION,
    DIRECT_INSTRUCTION,
    NUMBER_REGEX,
    direct_target,
    expression_instruction,
    expression_regex,
    problem_messages,
    steps_instruction,
    steps_regex,
    steps_target,
    verify_instruction,
    verify_target,
    worked_target,
)
from ponder.reasoning.plan import Conditions, extract_conditions, format_number, parse_number
from ponder.reasoning.problems import is_correct, split_of


class TargetFormat(enum.Enum):
    """Which planner node an example teaches."""

    EXPRESSION = "expression"  # pot method node
    STEPS = "steps"  # decompose method node
    WORKED = "worked"  # cot compute node
    DIRECT = "direct"  # direct answer node
    VERIFY = "verify"  # verify node (yes and no)


# Share of each format in a training mix: the evaluator-backed strategies first, since a
# 135M model cannot multiply in its head but can learn which numbers to combine how.
DEFAULT_MIX: dict[TargetFormat, float] = {
    TargetFormat.EXPRESSION: 0.32,
    TargetFormat.STEPS: 0.24,
    TargetFormat.VERIFY: 0.22,
    TargetFormat.WORKED: 0.12,
    TargetFormat.DIRECT: 0.10,
}

_OPERATORS = ("+", "-", "*", "/")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*"}
_CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
_BINARY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([-+*/])\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Example:
    """One supervised example: the chat the planner sends and the reply to learn."""

    question: str
    format: TargetFormat
    messages: tuple[ChatMessage, ...]
    target: str
    source: str


# -- prefix equations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """An expression tree node: a quantity leaf (index into the question's numbers) or an
    operator with two children."""

    op: str | None = None
    left: Node | None = None
    right: Node | None = None
    index: int = -1

    @property
    def is_leaf(self) -> bool:
        return self.op is None


class UnusableEquation(ValueError):
    """The equation uses constants or forms the planner's constraints cannot express."""


def parse_prefix(equation: str) -> Node:
    """`* + number0 number1 number2` -> tree; only numberK leaves are accepted."""
    tokens = equation.split()

    def take(position: int) -> tuple[Node, int]:
        if position >= len(tokens):
            raise UnusableEquation("truncated equation")
        token = tokens[position]
        if token in _OPERATORS:
            left, after_left = take(position + 1)
            right, after_right = take(after_left)
            return Node(op=token, left=left, right=right), after_right
        if token.startswith("number") and token[6:].isdigit():
            return Node(index=int(token[6:])), position + 1
        raise UnusableEquation(f"constant {token!r} is not one of the problem's numbers")

    tree, end = take(0)
    if end != len(tokens):
        raise UnusableEquation("trailing tokens")
    return tree


def apply(op: str, a: float, b: float) -> float:
    if op == "/" and b == 0:
        raise UnusableEquation("division by zero")
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]


def value_of(node: Node, quantities: Sequence[float]) -> float:
    if node.is_leaf:
        return quantities[node.index]
    assert node.left is not None and node.right is not None and node.op is not None
    return apply(node.op, value_of(node.left, quantities), value_of(node.right, quantities))


def infix(node: Node, quantities: Sequence[float]) -> str:
    """Infix with the fewest parentheses that keep the value."""
    if node.is_leaf:
        return format_number(quantities[node.index])
    assert node.left is not None and node.right is not None and node.op is not None
    left, right = infix(node.left, quantities), infix(node.right, quantities)
    own = _PRECEDENCE[node.op]
    if not node.left.is_leaf and _PRECEDENCE[node.left.op or "+"] < own:
        left = f"({left})"
    if not node.right.is_leaf:
        inner = _PRECEDENCE[node.right.op or "+"]
        if inner < own or (inner == own and node.op in "-/"):
            right = f"({right})"
    return f"{left} {node.op} {right}"


def step_lines(node: Node, quantities: Sequence[float]) -> list[tuple[float, str, float, float]]:
    """Post-order `a op b = c` lines; later lines use earlier results."""
    lines: list[tuple[float, str, float, float]] = []

    def visit(current: Node) -> float:
        if current.is_leaf:
            return quantities[current.index]
        assert current.left is not None and current.right is not None and current.op
        a, b = visit(current.left), visit(current.right)
        result = apply(current.op, a, b)
        lines.append((a, current.op, b, result))
        return result

    visit(node)
    return lines


def swapped_operators(node: Node) -> Iterator[Node]:
    """The same tree with one operator changed (a plausible wrong method)."""
    if node.is_leaf:
        return
    assert node.left is not None and node.right is not None and node.op is not None
    yield Node(op=_SWAP[node.op], left=node.left, right=node.right)
    for left in swapped_operators(node.left):
        yield Node(op=node.op, left=left, right=node.right)
    for right in swapped_operators(node.right):
        yield Node(op=node.op, left=node.left, right=right)


# -- examples per source -------------------------------------------------------------------


def _fits(regex: str, text: str) -> bool:
    return re.fullmatch(regex, text) is not None


def _evaluates_to(expression: str, answer: float) -> bool:
    try:
        return is_correct(evaluate(expression), answer)
    except UnsafeExpression:
        return False


def _steps_reach(target: str, answer: float) -> bool:
    """The planner's compute node evaluates each line; the last line's value is the answer."""
    lines = [line for line in target.splitlines() if line.strip()]
    value = None
    for line in lines:
        expression, _, claimed = line.partition("=")
        try:
            value = evaluate(expression)
        except UnsafeExpression:
            return False
        if not is_correct(parse_number(claimed.strip()), value):
            return False
    return value is not None and is_correct(value, answer)


def _example(
    question: str, fmt: TargetFormat, instruction: str, target: str, source: str
) -> Example:
    return Example(question, fmt, problem_messages(question, instruction), target, source)


def _answer_examples(question: str, answer: float, source: str) -> Iterator[Example]:
    target = direct_target(answer)
    if _fits(NUMBER_REGEX, target):
        yield _example(question, TargetFormat.DIRECT, DIRECT_INSTRUCTION, target, source)


def _verify_examples(
    question: str, answer: float, wrong: Iterable[float], source: str, rng: random.Random
) -> Iterator[Example]:
    yield _example(
        question, TargetFormat.VERIFY, verify_instruction(answer), verify_target(True), source
    )
    candidates = sorted({round(w, 4) for w in wrong if not is_correct(w, answer)})
    if candidates:
        value = rng.choice(candidates)
        yield _example(
            question, TargetFormat.VERIFY, verify_instruction(value), verify_target(False), source
        )


def mawps_examples(row: dict[str, object], rng: random.Random) -> list[Example]:
    """Every format one MAWPS/ASDiv row yields (none if its equation cannot be used)."""
    question = str(row["question"]).strip()
    answer = float(row["answer"])  # type: ignore[arg-type]
    source = "mawps_asdiv"
    conditions = extract_conditions(question)
    quantities = conditions.quantities
    try:
        tree = parse_prefix(str(row["equation"]))
        if not is_correct(value_of(tree, quantities), answer):
            return []
    except (UnusableEquation, IndexError):
        return []
    out: list[Example] = []
    expression = infix(tree, quantities)
    if _fits(expression_regex(conditions), expression) and _evaluates_to(expression, answer):
        out.append(
            _example(
                question,
                TargetFormat.EXPRESSION,
                expression_instruction(quantities),
                expression,
                source,
            )
        )
    out.extend(_steps_examples(question, conditions, step_lines(tree, quantities), answer, source))
    sentences = [steps_target([line]).strip() + "." for line in step_lines(tree, quantities)]
    out.append(
        _example(
            question, TargetFormat.WORKED, COT_INSTRUCTION, worked_target(sentences, answer), source
        )
    )
    out.extend(_answer_examples(question, answer, source))
    wrong = []
    for variant in swapped_operators(tree):
        try:
            wrong.append(value_of(variant, quantities))
        except UnusableEquation:
            continue
    out.extend(_verify_examples(question, answer, wrong, source, rng))
    return out


def _steps_examples(
    question: str,
    conditions: Conditions,
    lines: list[tuple[float, str, float, float]],
    answer: float,
    source: str,
) -> Iterator[Example]:
    target = steps_target(lines)
    if _fits(steps_regex(conditions), target) and _steps_reach(target, answer):
        yield _example(
            question,
            TargetFormat.STEPS,
            steps_instruction(conditions.quantities),
            target,
            source,
        )


def gsm8k_examples(row: dict[str, object], max_worked_chars: int = 360) -> list[Example]:
    """The worked answer and, where the calculations allow, decompose lines."""
    question = str(row["question"]).strip()
    solution, _, final = str(row["answer"]).rpartition("####")
    answer = parse_number(final.strip())
    if answer is None:
        return []
    source = "gsm8k"
    out: list[Example] = []
    conditions = extract_conditions(question)
    lines: list[tuple[float, str, float, float]] = []
    for left, result in _CALC.findall(solution):
        match = _BINARY.match(left)
        value = parse_number(result.strip())
        if match is None or value is None:
            lines = []
            break
        a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
        lines.append((a, op, b, value))
    if lines:
        out.extend(_steps_examples(question, conditions, lines, answer, source))
    worked = " ".join(_CALC.sub("", solution).split())
    if worked and len(worked) <= max_worked_chars:
        sentences = [worked.rstrip(".") + "."]
        out.append(
            _example(
                question,
                TargetFormat.WORKED,
                COT_INSTRUCTION,
                worked_target(sentences, answer),
                source,
            )
        )
    return out


# -- the mix -------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def training_pool(data_dir: Path, seed: int) -> dict[TargetFormat, list[Example]]:
    """Every usable example of the training split, by format (dev split excluded)."""
    rng = random.Random(seed)
    pool: dict[TargetFormat, list[Example]] = {fmt: [] for fmt in TargetFormat}
    for row in read_rows(data_dir / "mawps_asdiv_train.jsonl"):
        if split_of(str(row["question"]).strip()) == "train":
            for example in mawps_examples(row, rng):
                pool[example.format].append(example)
    gsm8k = data_dir / "gsm8k_train.jsonl"
    if gsm8k.is_file():
        for row in read_rows(gsm8k):
            if split_of(str(row["question"]).strip()) == "train":
                for example in gsm8k_examples(row):
                    pool[example.format].append(example)
    return pool


def training_mix(
    pool: dict[TargetFormat, list[Example]],
    total: int,
    seed: int,
    mix: dict[TargetFormat, float] | None = None,
) -> list[Example]:
    """`total` examples drawn per format by the mix's shares (MAWPS rows first within a
    format, since they are the planner's domain), shuffled with the seed."""
    shares = mix or DEFAULT_MIX
    rng = random.Random(seed)
    chosen: list[Example] = []
    weight = sum(shares.values())
    for fmt, share in shares.items():
        wanted = round(total * share / weight)
        candidates = list(pool.get(fmt, []))
        rng.shuffle(candidates)
        candidates.sort(key=lambda e: e.source != "mawps_asdiv")  # stable: keeps the shuffle
        chosen.extend(candidates[:wanted])
    rng.shuffle(chosen)
    return chosen


def pool_summary(pool: dict[TargetFormat, list[Example]]) -> dict[str, dict[str, int]]:
    summary: dict[str, dict[str, int]] = {}
    for fmt, examples in pool.items():
        counts: dict[str, int] = {}
        for example in examples:
            counts[example.source] = counts.get(example.source, 0) + 1
        summary[fmt.value] = counts
    return summary
