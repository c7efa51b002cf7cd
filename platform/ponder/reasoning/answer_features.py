"""What the answer ranker (`ranker.py`) reads: a problem's candidate answers (every
distinct answer of the sampled programs, and with program search every short program over
the quantities) and one feature row per candidate.

A row weighs the model's evidence (votes, the greedy program, log-probabilities) against
what the candidate's program does with the problem's words: which operator each quantity
meets and the words around that quantity, the question's words against the operators,
whether the program leaves out a quantity the question is about or uses one it is not
about (a sentence sharing no word with the question, a thing counted nowhere else in the
problem, someone the question does not name), and the answer's shape.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ponder.reasoning.cues import (
    OPERATORS,
    ProblemCues,
    content_words,
    hashed_bucket,
    operator_shares,
    read_cues,
    used_positions,
    word_operator_features,
)
from ponder.reasoning.paths import answers_agree, group_by_answer
from ponder.reasoning.plan import NUMBER_PATTERN, extract_conditions, parse_number
from ponder.reasoning.program_search import search_programs
from ponder.reasoning.quantity_roles import (
    QuantityUnit,
    asks_per_thing,
    check_units,
    read_asked_unit,
    read_units,
    result_verdict,
)
from ponder.reasoning.transfer_signs import read_signs

CONTEXT_BUCKETS = 256  # hashed (word near a quantity, operator it meets, side) triples
_WINDOW_BEFORE, _WINDOW_AFTER = 4, 3
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[-+*/()]")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_START = re.compile(r"(?:^|[.?!]\s+)")
# Capitalised words that are not anyone's name.
_NOT_NAME_TEXT = """A An The There This That These Those It If In On At For From With When
    While After Before How What Which Who Why Where Each Every He She They His Her Their Its We You
    I Then So But And Or Also After Now One Some All Find Calculate Mr Mrs Ms"""
_NOT_NAMES = frozenset(_NOT_NAME_TEXT.split())

DENSE_FEATURES: tuple[str, ...] = (
    "vote_share",
    "log_votes",
    "sampled",
    "greedy",
    "best_mean_logprob",
    "operations",
    "two_or_more_operations",
    "used_share",
    "all_used",
    "quantity_used_twice",
    "irrelevant_used",
    "relevant_unused",
    "answer_integer",
    "answer_negative",
    "answer_zero",
    "answer_below_one",
    "answer_is_given_quantity",
    "answer_log_ratio",
    "op_add",
    "op_sub",
    "op_mul",
    "op_div",
    "total_and_add",
    "difference_and_sub",
    "difference_and_add",
    "share_and_div",
    "rate_and_mul",
    "operands_in_text_order",
    "other_owner_used",
    "asked_holding_unused",
    "most_votes",
    "votes_on_same_quantities",
    "lone_unit_used",
    "asked_unit_unused",
    "unit_mismatch",
    "unit_is_asked",
    "unit_not_asked",
    "transfer_agrees",
    "transfer_disagrees",
)
FEATURE_NAMES: tuple[str, ...] = (
    *DENSE_FEATURES,
    *(f"question_word_operator_{i:03d}" for i in range(128)),
    *(f"context_operator_{i:03d}" for i in range(CONTEXT_BUCKETS)),
)


@dataclass(frozen=True)
class SampledProgram:
    """One finished sampled path, as the ranker sees it."""

    program: str
    answer: float
    mean_logprob: float = 0.0
    greedy: bool = False


@dataclass
class Candidate:
    """One distinct answer and the evidence for it."""

    answer: float
    program: str  # the representative program: the most voted sampled one, else searched
    votes: int = 0
    greedy: bool = False
    best_mean_logprob: float = 0.0
    programs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProblemReading:
    """What the ranker reads from a problem once: quantities, cues, words near each."""

    quantities: tuple[float, ...]
    cues: ProblemCues
    contexts: tuple[tuple[str, ...], ...]  # per quantity: the words around it
    owners: tuple[str, ...] = ()  # per quantity: the last name before it in its sentence
    asked_names: frozenset[str] = frozenset()  # names in the question sentence
    # per quantity: what it counts (the words after it) is named in no other sentence, as
    # with "Tom also has 9 kites." in a problem about the apples Tom picked
    lone_units: tuple[bool, ...] = ()
    asked_units: tuple[bool, ...] = ()  # per quantity: what it counts is in the question
    units: tuple[QuantityUnit, ...] = ()  # per quantity: what it counts, per what
    signs: tuple[int, ...] = ()  # per quantity: +1 moves to the asked person, -1 leaves
    asked_unit: str = ""  # what the question asks to count ("" when unread)
    asks_per_thing: bool = False  # the question asks for a share or rate ("each", "per")


def _names(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w[0].isupper() and w not in _NOT_NAMES]


@functools.lru_cache(maxsize=256)  # a request ranks the same problem once per wave
def read_problem(problem: str) -> ProblemReading:
    quantities = extract_conditions(problem).quantities
    contexts, owners, lone, asked = [], [], [], []
    question = extract_conditions(problem).question
    asked_words = content_words(question)
    boundaries = [m.end() for m in re.finditer(r"[.?!]\s+", problem)]
    starts = [0, *boundaries]
    spans = list(zip(starts, [*boundaries, len(problem)], strict=True))
    words_of = [content_words(problem[a:b]) for a, b in spans]
    for match in NUMBER_PATTERN.finditer(problem):
        if parse_number(match.group().rstrip(",")) is None:
            continue
        # the words around it in its own sentence, names left out
        sentence = _SENTENCE_START.split(problem[: match.start()])[-1]
        rest = re.split(r"[.?!](?:\s|$)", problem[match.end() :], maxsplit=1)[0]
        names = set(_names(sentence)) | set(_names(rest))
        before = [w for w in _WORD.findall(sentence) if w not in names][-_WINDOW_BEFORE:]
        after = [w for w in _WORD.findall(rest) if w not in names][:_WINDOW_AFTER]
        contexts.append(tuple(w.lower() for w in (*before, *after)))
        owners.append((_names(sentence) or [""])[-1])
        unit = content_words(" ".join(after[:2]))
        own = bisect.bisect_right(starts, match.start()) - 1
        elsewhere = set().union(*(w for i, w in enumerate(words_of) if i != own))
        lone.append(bool(unit) and not unit & elsewhere)
        asked.append(bool(unit & asked_words))
    units = read_units(problem, question)
    asked_names = frozenset(_names(question))
    return ProblemReading(
        quantities,
        read_cues(problem),
        tuple(contexts),
        tuple(owners),
        asked_names,
        tuple(lone),
        tuple(asked),
        units,
        read_signs(problem, question, asked_names, _NOT_NAMES),
        read_asked_unit(question, units),
        asks_per_thing(question),
    )


def candidates(
    reading: ProblemReading, sampled: Sequence[SampledProgram], search: bool
) -> list[Candidate]:
    """Distinct answers of the sampled programs (in order of first appearance), then, with
    `search`, those only program search reaches."""
    out: list[Candidate] = []
    for group in group_by_answer([s.answer for s in sampled]):
        members = [sampled[i] for i in group]
        counts: dict[str, int] = {}
        for member in members:
            counts[member.program] = counts.get(member.program, 0) + 1
        out.append(
            Candidate(
                answer=members[0].answer,
                program=max(counts, key=lambda p: counts[p]),
                votes=len(members),
                greedy=any(m.greedy for m in members),
                best_mean_logprob=max(m.mean_logprob for m in members),
                programs=list(counts),
            )
        )
    if not search:
        return out
    for found in search_programs(reading.quantities):
        match = next((c for c in out if answers_agree(c.answer, found.value)), None)
        if match is None:
            out.append(Candidate(answer=found.value, program=found.text, programs=[found.text]))
        elif found.text not in match.programs:
            match.programs.append(found.text)
    return out


def _operand_operators(program: str) -> list[tuple[str, str, str]]:
    """(number text, operator, side) for each operator each number of the program meets:
    side "L" when the number is the operator's left operand, "R" when its right."""
    tokens = _TOKEN.findall(program)
    out = []
    for index, token in enumerate(tokens):
        if not token[0].isdigit():
            continue
        left = index - 1
        while left >= 0 and tokens[left] == "(":
            left -= 1
        right = index + 1
        while right < len(tokens) and tokens[right] == ")":
            right += 1
        if left >= 0 and tokens[left] in OPERATORS:
            out.append((token, tokens[left], "R"))
        if right < len(tokens) and tokens[right] in OPERATORS:
            out.append((token, tokens[right], "L"))
    return out


OperandPositions = list[tuple[int, str, str]]  # (quantity position, operator, side)


def _operand_positions(reading: ProblemReading, program: str) -> OperandPositions:
    """(quantity position, operator, side) for each operator each of the problem's
    quantities meets in the program; a number the problem does not give is left out."""
    out = []
    taken: list[int] = []
    for number, operator, side in _operand_operators(program):
        value = parse_number(number)
        position = next(
            (
                i
                for i, q in enumerate(reading.quantities)
                if i not in taken and value is not None and abs(q - value) < 1e-9
            ),
            None,
        )
        if position is None:
            continue
        if side == "L" or operator in ("+", "*"):
            taken.append(position)
        out.append((position, operator, side))
    return out


def _context_features(reading: ProblemReading, operands: OperandPositions) -> list[float]:
    buckets = [0.0] * CONTEXT_BUCKETS
    for position, operator, side in operands:
        if position >= len(reading.contexts):
            continue
        for word in reading.contexts[position]:
            buckets[hashed_bucket(f"{word}|{operator}|{side}", CONTEXT_BUCKETS)] += 1.0
    return buckets


def _unit_features(reading: ProblemReading, program: str) -> list[float]:
    """Whether the program adds unlike things, and whether its result counts what the
    question asks for or cannot (0 when unsure)."""
    if len(reading.units) != len(reading.quantities):
        return [0.0, 0.0, 0.0]
    check = check_units(program, reading.quantities, reading.units)
    verdict = result_verdict(
        check.result, reading.asked_unit, reading.units, reading.asks_per_thing
    )
    return [float(check.mismatches > 0), float(verdict > 0), float(verdict < 0)]


def _transfer_features(reading: ProblemReading, operands: OperandPositions) -> list[float]:
    """Shares of the program's moved quantities that it adds when they reach the asked
    person and subtracts when they leave (agrees), or the other way round (disagrees)."""
    signs = reading.signs
    if len(signs) != len(reading.quantities) or not any(signs):
        return [0.0, 0.0]
    agree = disagree = 0
    for position, operator, side in operands:
        sign = signs[position]
        if not sign or operator not in ("+", "-") or (operator == "-" and side == "L"):
            continue
        if (operator == "+") == (sign > 0):
            agree += 1
        else:
            disagree += 1
    moved = sum(1 for s in signs if s)
    return [agree / moved, disagree / moved]


def doubted(reading: ProblemReading, program: str) -> bool:
    """Whether the problem's words speak against a program: its units do not add up, its
    result cannot count what the question asks for, or it moves more quantities the wrong
    way for the asked person than the right way. On the train split's sampled programs,
    those flagged are right about 1 time in 20 against 1 in 3 for the rest."""
    mismatch, _, not_asked = _unit_features(reading, program)
    agree, disagree = _transfer_features(reading, _operand_positions(reading, program))
    return bool(mismatch or not_asked or disagree > agree)


def _share(flags: tuple[bool, ...], used: list[int], counts: Callable[[bool, bool], bool]) -> float:
    """Share of the quantities for which `counts(flag, used)` holds."""
    if not flags:
        return 0.0
    return sum(counts(flag, i in used) for i, flag in enumerate(flags)) / len(flags)


def _other_owner_share(reading: ProblemReading, used: list[int]) -> float:
    """Share of the used quantities that belong to someone the question does not name
    (0 when the question names no one): Mary's pens in a question about Jack's."""
    if not reading.asked_names or not used or len(reading.owners) != len(reading.quantities):
        return 0.0
    other = [i for i in used if reading.owners[i] and reading.owners[i] not in reading.asked_names]
    return len(other) / len(used)


def _asked_holding_unused(reading: ProblemReading, used: list[int]) -> float:
    """1 when the question names someone who holds a stated quantity (one that is not
    moved between people) and the program uses none of their holdings but another
    person's: Mary's 5 pens less the 3 Jack gave, asked how many Jack has."""
    owners, signs = reading.owners, reading.signs
    n = len(reading.quantities)
    if not reading.asked_names or len(owners) != n or len(signs) != n:
        return 0.0
    holdings = [i for i in range(n) if owners[i] in reading.asked_names and not signs[i]]
    others = [i for i in used if owners[i] and owners[i] not in reading.asked_names]
    return float(bool(holdings and others) and not any(i in used for i in holdings))


def candidate_rows(reading: ProblemReading, found: Sequence[Candidate]) -> list[list[float]]:
    """Every candidate's feature row, in FEATURE_NAMES order."""
    total = sum(c.votes for c in found)
    most = max((c.votes for c in found), default=0)
    # votes per set of quantities the sampled programs use: the model may know which
    # quantities matter and still pick the wrong operator
    by_quantities: dict[frozenset[int], int] = {}
    for c in found:
        if c.votes:
            key = frozenset(used_positions(c.program, reading.quantities))
            by_quantities[key] = by_quantities.get(key, 0) + c.votes
    return [candidate_features(reading, c, total, most, by_quantities) for c in found]


def candidate_features(
    reading: ProblemReading,
    candidate: Candidate,
    total_votes: int,
    most_votes: int = 0,
    votes_by_quantities: dict[frozenset[int], int] | None = None,
) -> list[float]:
    """The candidate's feature row, in FEATURE_NAMES order."""
    program, answer = candidate.program, candidate.answer
    quantities, cues = reading.quantities, reading.cues
    used = used_positions(program, quantities)
    operands = _operand_positions(reading, program)  # shared by two feature groups
    same = (votes_by_quantities or {}).get(frozenset(used), 0)
    relevance = (
        cues.relevance if len(cues.relevance) == len(quantities) else (1.0,) * len(quantities)
    )
    relevant = [i for i, r in enumerate(relevance) if r >= 0.5]
    add, sub, mul, div = operator_shares(program)
    operations = sum(1 for t in _TOKEN.findall(program) if t in OPERATORS)
    largest = max((abs(q) for q in quantities), default=0.0)
    ratio = math.log1p(abs(answer)) - math.log1p(largest)
    vote_share = candidate.votes / total_votes if total_votes else 0.0
    irrelevant_used = sum(1 for i in used if relevance[i] < 0.5) / len(used) if used else 0.0
    relevant_unused = sum(1 for i in relevant if i not in used) / len(relevant) if relevant else 0.0
    lone_used = _share(reading.lone_units, used, lambda flag, is_used: flag and is_used)
    asked_unused = _share(reading.asked_units, used, lambda flag, is_used: flag and not is_used)
    return [
        vote_share,
        math.log1p(candidate.votes),
        float(candidate.votes > 0),
        float(candidate.greedy),
        candidate.best_mean_logprob,
        float(operations),
        float(operations >= 2),
        len(set(used)) / len(quantities) if quantities else 0.0,
        float(bool(quantities) and len(set(used)) == len(quantities)),
        float(len(used) != len(set(used))),
        irrelevant_used,
        relevant_unused,
        float(abs(answer - round(answer)) < 1e-9),
        float(answer < 0),
        float(answer == 0),
        float(0 < abs(answer) < 1),
        float(any(answers_agree(answer, q) for q in quantities)),
        max(-5.0, min(5.0, ratio)),
        add,
        sub,
        mul,
        div,
        cues.asks_total * add,
        cues.asks_difference * sub,
        cues.asks_difference * add,
        cues.asks_share * div,
        cues.body_rate * mul,
        float(used == sorted(used)),
        _other_owner_share(reading, used),
        _asked_holding_unused(reading, used),
        float(candidate.votes > 0 and candidate.votes == most_votes),
        same / total_votes if total_votes else 0.0,
        lone_used,
        asked_unused,
        *_unit_features(reading, program),
        *_transfer_features(reading, operands),
        *word_operator_features(cues.question_words, program),
        *_context_features(reading, operands),
    ]
