"""What a model refresh learns from: the verified paths of logged outcomes.

A logged reasoning keeps its problem and its sampled programs; an outcome says which
answer is right (`ranker_examples.right_answer_of`). A sampled program whose executed
answer is that right answer is a verified path: the pot branch's own prompt with that
program as the reply is a training example (rejection-sampling fine-tuning on the model's
own right programs). A problem none of whose samples was right can still teach: when
exactly one short program over its quantities reaches the reported answer (program
search's), that program is the example (`search_unique`): the outcome then teaches what
the model did not write. Problems of the held-back slice never become examples: the gate
judges every refresh on them.

To keep what the model knew, each refresh also rehearses a share of the train split's pot
examples (`rehearsal`), drawn with the refresh's seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ponder.learning.ranker_examples import RankerExample
from ponder.reasoning.formats import expression_instruction, problem_messages
from ponder.reasoning.paths import answers_agree
from ponder.reasoning.plan import extract_conditions
from ponder.reasoning.program_search import search_programs
from ponder.training.domain_data import Example, TargetFormat

SOURCE = "outcome"  # a verified path of a problem whose greedy program was right too
CORRECTION_SOURCE = "outcome-correction"  # ... whose greedy program was wrong


def _the_one_searched(problem: str, right_answer: float) -> list[str]:
    """The one short program over the problem's quantities that reaches the right answer
    (program search's), or none when none or several do (a coincidence cannot be told
    from the right program then)."""
    quantities = extract_conditions(problem).quantities
    found = [p.text for p in search_programs(quantities) if answers_agree(p.value, right_answer)]
    return found if len(found) == 1 else []


def verified_examples(
    examples: Sequence[RankerExample],
    per_problem: int = 2,
    correction_repeats: int = 1,
    search_unique: bool = False,
) -> list[Example]:
    """Per logged problem, up to `per_problem` distinct sampled programs that reach the
    right answer (the greedy one first, then by mean log-probability), as pot examples.
    A problem seen twice counts once. Where the greedy program was wrong, the right ones
    are corrections: each comes `correction_repeats` times. With `search_unique`, a
    problem none of whose samples is right is taught the one short program that reaches
    the reported answer, when exactly one does (a correction too)."""
    out: list[Example] = []
    seen: set[str] = set()
    for example in examples:
        key = " ".join(example.problem.split()).lower()
        if key in seen:
            continue
        seen.add(key)
        right = [p for p in example.programs if answers_agree(p.answer, example.right_answer)]
        right.sort(key=lambda p: (not p.greedy, -p.mean_logprob))
        programs = list(dict.fromkeys(p.program.strip() for p in right if p.program.strip()))
        if not programs and search_unique:
            programs = _the_one_searched(example.problem, example.right_answer)
        if not programs:
            continue
        quantities = extract_conditions(example.problem).quantities
        messages = problem_messages(example.problem, expression_instruction(quantities))
        greedy_right = any(p.greedy for p in right)
        source = SOURCE if greedy_right else CORRECTION_SOURCE
        for program in programs[:per_problem]:
            made = Example(example.problem, TargetFormat.EXPRESSION, messages, program, source)
            out.extend([made] * (1 if greedy_right else correction_repeats))
    return out


def rehearsal(pool: Sequence[Example], count: int, seed: int) -> list[Example]:
    """`count` train-split pot examples, drawn with the seed."""
    expressions = [e for e in pool if e.format is TargetFormat.EXPRESSION]
    random.Random(seed).shuffle(expressions)
    return expressions[:count]
