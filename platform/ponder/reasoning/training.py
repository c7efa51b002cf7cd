"""Fit the path scorer from the planner's own candidates on training problems.

`ponder train scorer` runs the planner (no pruning, no early stop, so every path is seen
to its end) over training problems, records the features of every path after every step,
labels each row with whether that path's final answer is right, fits logistic regression,
and reports metrics on a held-out dev split that never enters training.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ponder.config import PlannerConfig
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.paths import FEATURE_NAMES, PathState, PathStatus
from ponder.reasoning.planner import ReasonBudget, ReasoningPlanner
from ponder.reasoning.problems import Problem, is_correct
from ponder.reasoning.scorer import PathScorer, fit_scorer, log_loss
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


def labelled_rows(records: list[ProblemRecord]) -> tuple[list[list[float]], list[int]]:
    rows, labels = [], []
    for record in records:
        for path_id, path_rows in record.rows.items():
            for row in path_rows:
                rows.append(row)
                labels.append(int(record.correct.get(path_id, False)))
    return rows, labels


def selection_metrics(records: list[ProblemRecord], scorer: PathScorer) -> dict[str, float]:
    """Accuracy of answering from the best-scored complete path, against simple baselines."""
    counts = {"scorer_best": 0, "oracle_any_path": 0}
    per_strategy: dict[str, int] = {}
    for record in records:
        finals = {pid: rows[-1] for pid, rows in record.rows.items() if rows}
        complete = [pid for pid in finals if finals[pid][FEATURE_NAMES.index("has_answer")] > 0]
        if complete:
            scores = scorer.score_many([finals[pid] for pid in complete])
            best = complete[max(range(len(complete)), key=lambda i: scores[i])]
            counts["scorer_best"] += int(record.correct.get(best, False))
        counts["oracle_any_path"] += int(any(record.correct.values()))
        for pid, strategy in record.strategy.items():
            if record.greedy.get(pid):
                per_strategy[strategy] = per_strategy.get(strategy, 0) + int(record.correct[pid])
    total = max(1, len(records))
    metrics = {f"accuracy_{k}": v / total for k, v in counts.items()}
    metrics |= {f"accuracy_greedy_{k}": v / total for k, v in sorted(per_strategy.items())}
    return metrics


def row_metrics(scorer: PathScorer, rows: list[list[float]], labels: list[int]) -> dict[str, Any]:
    if not rows:
        return {"rows": 0}
    scores = scorer.score_many(rows)
    accuracy = sum((s >= 0.5) == bool(y) for s, y in zip(scores, labels, strict=True)) / len(rows)
    return {
        "rows": len(rows),
        "positive_rate": sum(labels) / len(labels),
        "log_loss": log_loss(scores, labels),
        "accuracy": accuracy,
    }


def train(
    train_records: list[ProblemRecord], dev_records: list[ProblemRecord], version_note: str
) -> PathScorer:
    rows, labels = labelled_rows(train_records)
    if not rows or len(set(labels)) < 2:
        raise ValueError("training data has a single class; use more problems")
    digest = hashlib.sha256(repr((rows, labels)).encode()).hexdigest()[:8]
    scorer = fit_scorer(rows, labels, version=f"1-{digest}")
    dev_rows, dev_labels = labelled_rows(dev_records)
    metrics = {
        "trained_on": version_note,
        "train": row_metrics(scorer, rows, labels) | selection_metrics(train_records, scorer),
        "dev": row_metrics(scorer, dev_rows, dev_labels) | selection_metrics(dev_records, scorer),
        "train_problems": len(train_records),
        "dev_problems": len(dev_records),
    }
    return PathScorer(scorer.version, scorer.weights, scorer.bias, scorer.mean, scorer.std, metrics)
