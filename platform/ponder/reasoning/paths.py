"""Candidate paths: their state while the planner runs, and the features the scorer reads."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass, field

from ponder.errors import PonderError
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
)


# Features that depend on the other branches, not on the path itself: their part of the
# score is added at read time, so cached scores (keyed by the path prefix) stay exact.
CONTEXT_FEATURES: frozenset[str] = frozenset({"agreement"})


def answers_agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))


def path_features(
    path: PathState, others: list[PathState], conditions: Conditions, question_chars: int
) -> list[float]:
    """The feature vector of a (partial or complete) path, in FEATURE_NAMES order."""
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
