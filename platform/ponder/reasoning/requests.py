"""What goes into the reasoning planner and what comes out: a request's budget and call,
the events a run yields as they happen, and the finished result."""

from __future__ import annotations

from dataclasses import dataclass, field

from ponder.reasoning.cache import CacheCounters
from ponder.reasoning.paths import PathState, PathStatus
from ponder.reasoning.plan import DEFAULT_STRATEGY_ORDER, Plan, Strategy
from ponder.reasoning.steps import StepRecord


@dataclass(frozen=True)
class ReasonBudget:
    """Limits a caller sets on one Reason request."""

    max_branches: int = 4
    max_tokens: int = 2048
    strategies: tuple[Strategy, ...] = DEFAULT_STRATEGY_ORDER


@dataclass(frozen=True)
class ReasonResult:
    reasoning_id: str
    answer: str
    numeric_answer: float | None
    plan: Plan
    paths: tuple[PathState, ...]
    chosen_path_id: str
    decoder_calls: int
    prompt_tokens: int
    completion_tokens: int  # every generated token, aborted calls included
    scorer_version: str
    cache: CacheCounters
    # Each path's feature rows, one per step (the last scoring pass after that step):
    # what the online learner trains on once the outcome is reported.
    path_rows: dict[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)
    outcome_reportable: bool = False  # logged for learning (set by the planner deployment)
    kept_tokens: int = 0  # tokens of the calls that finished (those in the paths)
    adapter: str | None = None  # the LoRA adapter every branch ran on (None: base model)
    model: str = ""  # the decoder set every branch ran on ("" = the main one)
    ranker_version: str = ""  # the answer ranker that chose the answer ("" when none did)


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanBuilt:
    plan: Plan


@dataclass(frozen=True)
class BranchStarted:
    branch_id: str
    strategy: Strategy


@dataclass(frozen=True)
class StepDone:
    branch_id: str
    step: StepRecord
    score: float


@dataclass(frozen=True)
class BranchPruned:
    branch_id: str
    reason: str
    score: float


@dataclass(frozen=True)
class BranchDone:
    branch_id: str
    status: PathStatus
    answer: float | None
    score: float
    note: str


@dataclass(frozen=True)
class Finished:
    result: ReasonResult


ReasonEvent = PlanBuilt | BranchStarted | StepDone | BranchPruned | BranchDone | Finished


@dataclass(frozen=True)
class ReasonCall:
    """A validated Reason request as the planner deployment receives it."""

    problem: str
    budget: ReasonBudget
    reasoning_id: str
    adapter: str | None = None
    scope: str = "shared"  # whose path scorer scores it (and whose its outcome trains)
    model: str = ""  # decoder set of every branch ("" = the main one)
    tenant: str = ""  # the authenticated caller's tenant; only it may report the outcome
