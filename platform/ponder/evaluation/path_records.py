"""Run the planner over problems with every path seen to its end (no pruning, no early
stop) and record each path's feature rows and whether its answer is right: the
per-strategy greedy evaluation of adapters and students (`strategy_accuracy.py`) reads
it. The path verifier is fitted from `reasoning/verifier.py` `sample_paths` instead
(`ponder train verifier`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ponder.config import PlannerConfig
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.path_scorer import PathScorer
from ponder.reasoning.paths import FEATURE_NAMES, PathState, PathStatus
from ponder.reasoning.problems import Problem, is_correct
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import ReasonBudget
from ponder.reasoning.steps import PlannerDecoder

log = logging.getLogger(__name__)

# Every path is seen to its end: no pruning, no early stop.
COLLECT_SETTINGS = PlannerConfig(
    prune_below=0.0, prune_below_best_fraction=0.0, early_stop_agree=10**6, keep_top=16
)


def prior_scorer() -> PathScorer:
    """Hand-set scorer used only while collecting data (scores do not steer collection)."""
    n = len(FEATURE_NAMES)
    weights = [0.0] * n
    for name, weight in (("agreement", 2.0), ("has_answer", 1.0), ("verify_p_yes", 1.0)):
        weights[FEATURE_NAMES.index(name)] = weight
    return PathScorer("prior-0", tuple(weights), -1.5, (0.0,) * n, (1.0,) * n, {})


@dataclass
class ProblemRecord:
    """Every path of one problem: per-step feature rows and whether the path is right."""

    problem: Problem
    rows: dict[str, list[list[float]]] = field(default_factory=dict)  # path id -> rows
    correct: dict[str, bool] = field(default_factory=dict)
    strategy: dict[str, str] = field(default_factory=dict)
    greedy: dict[str, bool] = field(default_factory=dict)
    tokens: int = 0
    failed: bool = False


async def collect(
    decoder: PlannerDecoder,
    problems: list[Problem],
    budget: ReasonBudget,
    concurrency: int,
    progress: Callable[[str], None] = print,
    adapter: str | None = None,
) -> list[ProblemRecord]:
    """Run the planner on every problem (concurrently) and record its candidates."""
    records = [ProblemRecord(p) for p in problems]
    by_id = {f"train-{i}": r for i, r in enumerate(records)}
    last_step: dict[tuple[str, str, int], list[float]] = {}

    def sink(reasoning_id: str, path: PathState, row: list[float]) -> None:
        last_step[(reasoning_id, path.spec.id, len(path.steps))] = row

    planner = ReasoningPlanner(decoder, prior_scorer, NoScoreCache(), COLLECT_SETTINGS, sink)
    semaphore = asyncio.Semaphore(concurrency)
    done = [0]
    started = time.monotonic()

    async def one(reasoning_id: str, record: ProblemRecord) -> None:
        async with semaphore:
            try:
                result = await planner.reason(
                    record.problem.question, budget, reasoning_id, adapter
                )
            except Exception as error:  # a problem with no answer still teaches nothing
                record.failed = True
                log.info("%s: %s", reasoning_id, error)
                return
            finally:
                done[0] += 1
                if done[0] % 10 == 0 or done[0] == len(records):
                    elapsed = time.monotonic() - started
                    progress(f"  {done[0]}/{len(records)} problems, {elapsed:.0f} s")
        record.tokens = result.completion_tokens
        for path in result.paths:
            record.strategy[path.spec.id] = path.spec.strategy.value
            record.greedy[path.spec.id] = path.spec.temperature == 0
            record.correct[path.spec.id] = path.status is PathStatus.COMPLETED and is_correct(
                path.answer, record.problem.answer
            )

    await asyncio.gather(*(one(rid, rec) for rid, rec in by_id.items()))
    for (reasoning_id, path_id, _), row in sorted(last_step.items()):
        by_id[reasoning_id].rows.setdefault(path_id, []).append(row)
    return records
