"""Candidate paths: their state while the planner runs, and the features the scorer reads."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ponder.errors import PonderError
from ponder.reasoning.cues import (
    WORD_OPERATOR_BUCKETS,
    ProblemCues,
    operator_shares,
    used_positions,
    word_operator_features,
)
from ponder.reasoning.plan import BranchSpec, Conditions, NodeKind, Strategy
from ponder.reasoning.steps import StepRecord, total_steps


class PathStatus(enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"


@dataclass
class PathState:
    """One branch's progress."""

    spec: BranchSpec
    steps: list[StepRecord] = field(default_factory=list)
    status: PathStatus = PathStatus.RUNNING
    answer: float | None = None
    score: float = 0.5
    note: str = ""
    caller_error: PonderError | None = None  # why it failed, when the request was the reason
    last_features: list[float] | None = None  # the row the latest score was computed from
    started: bool = True  # False: a wave never needed (reported PRUNED with no steps)

    @property
    def tokens(self) -> int:
        return sum(step.tokens for step in self.steps)

    @property
    def prompt_tokens(self) -> int:
        return sum(step.prompt_tokens for step in self.steps)

    def detail(self, key: str, default: float) -> float:
        for step in reversed(self.steps):
            if key in step.detail:
                return step.detail[key]
        return default


FEATURE_NAMES: tuple[str, ...] = (
    "strategy_direct",
    "strategy_cot",
    "strategy_pot",
    "strategy_decompose",
    "progress",
    "mean_logprob",
    "min_logprob",
    "verify_p_yes",
    "steps_consistent",
    "quantities_used",
    "answer_matches_reasoning",
    "has_answer",
    "answer_is_integer",
    "answer_is_given_quantity",
    "answer_negative",
    "agreement",
    "log_quantities",
    "log_question_chars",
    # The program's shape against the question's wording (`cues.py`): what lets the
    # verifier tell a memorised expression from the one a changed question needs.
    "op_add",
    "op_sub",
    "op_mul",
    "op_div",
    "asks_total",
    "asks_difference",
    "asks_share",
    "body_rate",
    "total_and_add",
    "difference_and_sub",
    "difference_and_add",
    "share_and_div",
    "rate_and_mul",
    "irrelevant_used",
    "relevant_unused",
    "answer_log_ratio",
    "temperature",
    *(f"word_operator_{i:03d}" for i in range(WORD_OPERATOR_BUCKETS)),
)


# Features that depend on the other branches, not on the path itself: their part of the
# score is added at read time, so cached scores (keyed by the path prefix) stay exact.
CONTEXT_FEATURES: frozenset[str] = frozenset({"agreement"})


def answers_agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))


def group_by_answer(answers: Sequence[float]) -> list[list[int]]:
    """Positions of agreeing answers (each compared with its group's first), the groups in
    the order their first answer appears: what every vote over answers counts."""
    groups: list[list[int]] = []
    for position, answer in enumerate(answers):
        for group in groups:
            if answers_agree(answers[group[0]], answer):
                group.append(position)
                break
        else:
            groups.append([position])
    return groups


def path_features(
    path: PathState,
    others: list[PathState],
    conditions: Conditions,
    question_chars: int,
    cues: ProblemCues | None = None,
) -> list[float]:
    """The feature vector of a (partial or complete) path, in FEATURE_NAMES order; `cues`
    of the problem (`cues.read_cues`) feed the program-against-question features."""
    generated = [s for s in path.steps if s.tokens > 0]
    mean_lp = sum(s.mean_logprob for s in generated) / len(generated) if generated else 0.0
    min_lp = min((s.min_logprob for s in generated), default=0.0)
    answer = path.answer
    if answer is None:
        for step in reversed(path.steps):
            if step.value is not None and step.kind in (NodeKind.COMPUTE, NodeKind.ANSWER):
                answer = step.value
                break
    peers = [o.answer for o in others if o is not path and o.answer is not None]
    agreement = (
        sum(1 for p in peers if answer is not None and answers_agree(p, answer)) / len(peers)
        if peers
        else 0.0
    )
    strategy = path.spec.strategy
    return [
        float(strategy is Strategy.DIRECT),
        float(strategy is Strategy.COT),
        float(strategy is Strategy.POT),
        float(strategy is Strategy.DECOMPOSE),
        len(path.steps) / total_steps(strategy),
        mean_lp,
        min_lp,
        path.detail("p_yes", 0.5),
        path.detail("steps_consistent", 0.5),
        path.detail("quantities_used", 0.5),
        path.detail("matches_reasoning", 0.5),
        float(answer is not None),
        float(answer is not None and abs(answer - round(answer)) < 1e-9),
        float(answer is not None and any(answers_agree(answer, q) for q in conditions.quantities)),
        float(answer is not None and answer < 0),
        agreement,
        math.log1p(len(conditions.quantities)),
        math.log1p(question_chars),
        *program_features(path, conditions, cues, answer),
    ]


def program_features(
    path: PathState, conditions: Conditions, cues: ProblemCues | None, answer: float | None
) -> list[float]:
    """Operators of the path's program, the question's cues and their matches, how the
    program's quantities relate to what the question asks about, the answer's scale."""
    method = next((s.output for s in path.steps if s.kind is NodeKind.METHOD), "")
    add, sub, mul, div = operator_shares(method)
    quantities = conditions.quantities
    if cues is None or len(cues.relevance) != len(quantities):
        relevance = (1.0,) * len(quantities)
        total = difference = share = rate = 0.0
    else:
        relevance = cues.relevance
        total, difference = cues.asks_total, cues.asks_difference
        share, rate = cues.asks_share, cues.body_rate
    used = used_positions(method, quantities) if method else []
    irrelevant_used = sum(1 for i in used if relevance[i] < 0.5) / len(used) if used else 0.0
    relevant = [i for i, r in enumerate(relevance) if r >= 0.5]
    relevant_unused = (
        sum(1 for i in relevant if i not in used) / len(relevant) if used and relevant else 0.0
    )
    largest = max((abs(q) for q in quantities), default=0.0)
    ratio = math.log1p(abs(answer)) - math.log1p(largest) if answer is not None else 0.0
    return [
        add,
        sub,
        mul,
        div,
        total,
        difference,
        share,
        rate,
        total * add,
        difference * sub,
        difference * add,
        share * div,
        rate * mul,
        irrelevant_used,
        relevant_unused,
        max(-5.0, min(5.0, ratio)),
        path.spec.temperature,
        *word_operator_features(cues.question_words if cues else (), method),
    ]


def stable_hash(value: object) -> str:
    """Short content hash for cache keys."""
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def path_prefix_key(path: PathState) -> str:
    """Identity of a path prefix for the score cache: its strategy and the text of its steps.

    The path's own features are a function of these (log-probabilities too, up to the
    float noise of different batch compositions, which must not split the cache)."""
    return stable_hash([path.spec.strategy.value, [(s.kind.value, s.output) for s in path.steps]])
