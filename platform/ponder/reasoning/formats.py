"""The planner's prompt and answer formats, shared by the planner, the evaluation harness
and the training jobs, so a prompt and the target it is trained on can never drift apart.

Every prompt is the same system message plus "Problem: <text>" and an instruction; what a
node may answer is constrained by a regex or a choice built here, and the training targets
are rendered here in exactly the shape those constraints and the planner's parsers accept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ponder.generation import ChatMessage, Role
from ponder.reasoning.plan import Conditions, format_number

SYSTEM_PROMPT = "You are a careful assistant who solves math word problems."

DIRECT_INSTRUCTION = "Reply with only the final numeric answer."
COT_INSTRUCTION = "Solve it step by step. End with: The answer is <number>."
ANSWER_PHRASE = "The answer is"
VERIFY_CHOICES = ("yes", "no")

NUMBER_REGEX = r"-?[0-9]{1,9}(\.[0-9]{1,2})?"
_OPERAND = r"[0-9]{1,9}(\.[0-9]{1,4})?"
_OPERATOR = r" [-+*/] "
_RESULT = r"-?[0-9]{1,9}(\.[0-9]{1,2})?"
MAX_STEPS = 3


def numbers_text(quantities: Sequence[float]) -> str:
    return ", ".join(format_number(q) for q in quantities)


def expression_instruction(quantities: Sequence[float]) -> str:
    """The program-of-thought method node: one expression over the problem's numbers."""
    return (
        f"The numbers are: {numbers_text(quantities)}. Write one arithmetic expression with "
        "these numbers that computes the answer."
    )


def steps_instruction(quantities: Sequence[float]) -> str:
    """The decompose method node: up to three `a op b = c` lines."""
    return (
        f"The numbers are: {numbers_text(quantities)}. Compute the answer in at most "
        f"{MAX_STEPS} steps, one per line, each written as: number operator number = result"
    )


def verify_instruction(value: float) -> str:
    """The verify node: is this proposed answer right?"""
    return f"Proposed answer: {format_number(value)}. Is this answer correct? Reply yes or no."


def problem_messages(
    problem: str, instruction: str, follow_up: tuple[str, str] | None = None
) -> tuple[ChatMessage, ...]:
    """System + problem first (the prefix every branch shares), then the instruction;
    follow_up = (earlier answer, next instruction) continues the conversation."""
    messages = [
        ChatMessage(Role.SYSTEM, SYSTEM_PROMPT),
        ChatMessage(Role.USER, f"Problem: {problem}\n\n{instruction}"),
    ]
    if follow_up is not None:
        messages.append(ChatMessage(Role.ASSISTANT, follow_up[0]))
        messages.append(ChatMessage(Role.USER, follow_up[1]))
    return tuple(messages)


# -- constraints -------------------------------------------------------------------------


def _quantity_regex(conditions: Conditions) -> str:
    """Any of the problem's own quantities (longest first), or any number if it has none."""
    operands = sorted({re.escape(format_number(q)) for q in conditions.quantities}, key=len)
    return "(" + "|".join(reversed(operands)) + ")" if operands else f"({_OPERAND})"


def expression_regex(conditions: Conditions) -> str:
    """Two or three terms joined by + - * /; a term is one of the problem's quantities or
    a parenthesised pair of them."""
    quantity = _quantity_regex(conditions)
    term = f"({quantity}|\\({quantity}{_OPERATOR}{quantity}\\))"
    return f"{term}({_OPERATOR}{term}){{1,2}}"


def steps_regex(conditions: Conditions) -> str:
    """1-3 lines 'a op b = c': the first over the problem's quantities, later ones over
    quantities or earlier results."""
    quantity = _quantity_regex(conditions)
    later = f"({quantity}|{_RESULT})"
    first = f"{quantity}{_OPERATOR}{quantity} = {_RESULT}\n"
    return f"{first}({later}{_OPERATOR}{later} = {_RESULT}\n){{0,{MAX_STEPS - 1}}}"


# -- targets -----------------------------------------------------------------------------


def direct_target(answer: float) -> str:
    """What the direct node (and the CoT branch's answer node) answers: the bare number."""
    return format_number(answer)


def steps_target(lines: Sequence[tuple[float, str, float, float]]) -> str:
    """Decompose lines from (left, operator, right, result) tuples."""
    return "".join(
        f"{format_number(a)} {op} {format_number(b)} = {format_number(c)}\n"
        for a, op, b, c in lines
    )


def worked_target(sentences: Sequence[str], answer: float) -> str:
    """A short worked answer ending in the phrase the CoT parser looks for."""
    body = " ".join(s.strip() for s in sentences if s.strip())
    ending = f"{ANSWER_PHRASE} {format_number(answer)}."
    return f"{body} {ending}" if body else ending


def verify_target(correct: bool) -> str:
    return VERIFY_CHOICES[0] if correct else VERIFY_CHOICES[1]
