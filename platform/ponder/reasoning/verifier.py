"""The learned path verifier: trained on the model's own sampled programs, labelled by
executing them (outcome supervision, as in Cobbe et al. 2021), and the answer-level
aggregation it drives, replayed offline for the accuracy-compute curve.

`sample_paths` runs the planner with every branch seen to its end (no pruning, no early
stop, no waves) and keeps, per problem, every path's answer, tokens and feature rows.
`fit_verifier` fits the path scorer (`scorer.fit_scorer`) on the rows of training-split
problems; `replay` answers each problem from the first k of its sampled paths the way the
planner would (greedy, plain majority vote, score-weighted vote, adaptive waves), so one
sampling pass measures every budget and aggregation on identical samples.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ponder.config import PlannerConfig
from ponder.reasoning.answer_features import Candidate, SampledProgram
from ponder.reasoning.branch_decisions import ranker_settled
from ponder.reasoning.cache import NoScoreCache
from ponder.reasoning.path_scorer import PathScorer, fit_scorer, log_loss
from ponder.reasoning.paths import (
    FEATURE_NAMES,
    PathState,
    PathStatus,
    answers_agree,
    group_by_answer,
)
from ponder.reasoning.plan import NodeKind
from ponder.reasoning.problems import Problem, is_correct
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import ReasonBudget
from ponder.reasoning.selection import SEARCH_PATH_ID
from ponder.reasoning.steps import PlannerDecoder

AGREEMENT = FEATURE_NAMES.index("agreement")
HAS_ANSWER = FEATURE_NAMES.index("has_answer")
MEAN_LOGPROB = FEATURE_NAMES.index("mean_logprob")
Aggregation = Literal["greedy", "majority", "weighted", "adaptive", "ranked", "ranked_adaptive"]


@dataclass
class SampledPath:
    """One branch of one problem, seen to its end."""

    path_id: str
    strategy: str
    temperature: float
    answer: float | None
    correct: bool
    tokens: int
    rows: list[list[float]]  # features after each step (the last row: the finished path)
    program: str = ""  # what the method node wrote (pot: an expression; decompose: lines)


@dataclass
class SampledProblem:
    """Every sampled path of one problem (in branch order: the greedy branch first)."""

    question: str
    answer: float
    source: str
    paths: list[SampledPath] = field(default_factory=list)
    generated_tokens: int = 0
    failed: str = ""


def collect_settings(base: PlannerConfig) -> PlannerConfig:
    """The planner as configured, but every branch started at once and run to its end,
    and answered by the vote (no answer ranker: the samples are the model's own programs,
    never a program search wrote)."""
    return base.model_copy(
        update={
            "selection": "vote",
            "prune_below": 0.0,
            "prune_below_best_fraction": 0.0,
            "early_stop_agree": 10**6,
            "keep_top": 16,
            "initial_branches": 0,
        }
    )


def neutral_scorer() -> PathScorer:
    """Scores that steer nothing while sampling (every path runs to its end anyway)."""
    n = len(FEATURE_NAMES)
    return PathScorer("neutral-0", (0.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, {})


async def sample_paths(
    decoder: PlannerDecoder,
    problems: Sequence[Problem],
    settings: PlannerConfig,
    budget: ReasonBudget,
    concurrency: int,
    progress: Callable[[str], None] = print,
) -> list[SampledProblem]:
    """Run the planner over every problem and keep every path (see collect_settings)."""
    rows: dict[tuple[str, str], dict[int, list[float]]] = {}

    def sink(reasoning_id: str, path: PathState, row: list[float]) -> None:
        rows.setdefault((reasoning_id, path.spec.id), {})[len(path.steps)] = row

    planner = ReasoningPlanner(
        decoder, neutral_scorer, NoScoreCache(), collect_settings(settings), sink
    )
    semaphore = asyncio.Semaphore(concurrency)
    records = [SampledProblem(p.question, p.answer, p.source) for p in problems]
    started, done = time.monotonic(), [0]

    async def one(index: int, record: SampledProblem) -> None:
        reasoning_id = f"sample-{index}"
        async with semaphore:
            try:
                result = await planner.reason(record.question, budget, reasoning_id)
            except Exception as error:  # a problem no branch answers teaches nothing
                record.failed = str(error)[:200]
                return
            finally:
                done[0] += 1
                if done[0] % 50 == 0 or done[0] == len(records):
                    progress(f"  {done[0]}/{len(records)}, {time.monotonic() - started:.0f} s")
        record.generated_tokens = result.completion_tokens
        for path in result.paths:
            if path.spec.id == SEARCH_PATH_ID:
                continue  # not the model's: only a ranker adds it
            finished = path.status is PathStatus.COMPLETED and path.answer is not None
            steps = rows.get((reasoning_id, path.spec.id), {})
            record.paths.append(
                SampledPath(
                    path_id=path.spec.id,
                    strategy=path.spec.strategy.value,
                    temperature=path.spec.temperature,
                    answer=path.answer if finished else None,
                    correct=finished and is_correct(path.answer, record.answer),
                    tokens=path.tokens,
                    rows=[steps[k] for k in sorted(steps)],
                    program=next((s.output for s in path.steps if s.kind is NodeKind.METHOD), ""),
                )
            )

    await asyncio.gather(*(one(i, r) for i, r in enumerate(records)))
    return records


def save_samples(records: Sequence[SampledProblem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(asdict(record)) + "\n")


def load_samples(path: Path) -> list[SampledProblem]:
    records = []
    for line in path.read_text().splitlines():
        data = json.loads(line)
        paths = [SampledPath(**p) for p in data.pop("paths")]
        records.append(SampledProblem(**data, paths=paths))
    return records


# -- fitting -----------------------------------------------------------------------------


def training_rows(records: Sequence[SampledProblem]) -> tuple[list[list[float]], list[int]]:
    """Every step row of every path, labelled by whether the path's executed answer is
    right (a path that failed or never answered is wrong)."""
    rows, labels = [], []
    for record in records:
        for path in record.paths:
            for row in path.rows:
                rows.append(row)
                labels.append(int(path.correct))
    return rows, labels


def final_rows(records: Sequence[SampledProblem]) -> tuple[list[list[float]], list[int]]:
    """The finished paths' last rows: what the verifier decides on."""
    rows, labels = [], []
    for record in records:
        for path in record.paths:
            if path.answer is not None and path.rows:
                rows.append(path.rows[-1])
                labels.append(int(path.correct))
    return rows, labels


def discrimination(
    scorer: PathScorer, rows: list[list[float]], labels: list[int]
) -> dict[str, Any]:
    """Precision and recall of 'right' at score 0.5, log-loss, and the base rate."""
    if not rows:
        return {"paths": 0}
    scores = scorer.score_many(rows)
    predicted = [s >= 0.5 for s in scores]
    true_pos = sum(1 for p, y in zip(predicted, labels, strict=True) if p and y)
    return {
        "paths": len(rows),
        "right_rate": sum(labels) / len(labels),
        "precision": true_pos / max(1, sum(predicted)),
        "recall": true_pos / max(1, sum(labels)),
        "log_loss": log_loss(scores, labels),
    }


def fit_verifier(
    train: Sequence[SampledProblem], held_out: Mapping[str, Sequence[SampledProblem]], note: str
) -> PathScorer:
    """Fit on the training records' rows; report discrimination on each held-out set."""
    rows, labels = training_rows(train)
    if len(set(labels)) < 2:
        raise ValueError("the sampled paths are all right or all wrong; sample more problems")
    digest = hashlib.sha256(repr((rows, labels)).encode()).hexdigest()[:8]
    scorer = fit_scorer(rows, labels, version=f"2-{digest}", l2=1e-3, steps=3000)
    metrics: dict[str, Any] = {
        "trained_on": note,
        "train_problems": len(train),
        "train_rows": len(rows),
        "train_paths": discrimination(scorer, *final_rows(train)),
    }
    for name, records in held_out.items():
        metrics[f"held_out_{name}"] = discrimination(scorer, *final_rows(records)) | {
            "problems": len(records)
        }
    return PathScorer(scorer.version, scorer.weights, scorer.bias, scorer.mean, scorer.std, metrics)


# -- replay ------------------------------------------------------------------------------


def _with_agreement(finals: list[tuple[SampledPath, list[float]]]) -> list[list[float]]:
    """The finished rows with `agreement` recomputed among these paths only."""
    out = []
    for path, row in finals:
        peers = [q.answer for q, _ in finals if q is not path and q.answer is not None]
        agree = sum(1 for a in peers if path.answer is not None and answers_agree(a, path.answer))
        fixed = list(row)
        fixed[AGREEMENT] = agree / len(peers) if peers else 0.0
        out.append(fixed)
    return out


def _vote(
    finals: list[tuple[SampledPath, list[float]]], scorer: PathScorer | None
) -> tuple[float | None, float, int]:
    """(answer, its share of the total weight, its path count) of a (weighted) vote."""
    if not finals:
        return None, 0.0, 0
    weights = [1.0] * len(finals)
    if scorer is not None:
        weights = scorer.score_many(_with_agreement(finals))
    answers = [path.answer or 0.0 for path, _ in finals]
    groups = [
        (answers[g[0]], sum(weights[i] for i in g), len(g)) for g in group_by_answer(answers)
    ]  # answer, weight, count
    answer, lead, count = max(groups, key=lambda g: (g[1], g[2]))
    total = sum(g[1] for g in groups)
    return answer, (lead / total if total > 0 else 0.0), count


def sampled_programs(paths: Sequence[SampledPath]) -> list[SampledProgram]:
    """The finished sampled paths as the answer ranker sees them."""
    return [
        SampledProgram(
            p.program, p.answer, p.rows[-1][MEAN_LOGPROB] if p.rows else 0.0, p.temperature == 0
        )
        for p in paths
        if p.answer is not None
    ]


def _ranked(
    record: SampledProblem,
    paths: Sequence[SampledPath],
    ranker: AnswerRanker,
    doubt_yield: float = 0.0,
) -> list[tuple[Candidate, float]]:
    return ranker.rank(record.question, sampled_programs(paths), doubt_yield)


def replay_ranked(
    record: SampledProblem,
    branches: int,
    ranker: AnswerRanker,
    settings: PlannerConfig | None = None,
    doubt_yield: float = 0.0,
) -> tuple[bool, int]:
    """(right, tokens) of the answer ranker on the first `branches` sampled paths; with
    `settings`, in the planner's waves, stopping once the ranker's first candidate holds
    `settle_share` of the probability with at least `settle_votes` sampled paths (and
    `doubt_yield` from them)."""
    paths = record.paths[:branches]
    if settings is not None:
        doubt_yield = settings.doubt_yield
        used = settings.initial_branches or branches
        while used < len(paths):
            ranked = _ranked(record, paths[:used], ranker, doubt_yield)
            if ranker_settled(ranked, settings, record.question):
                break
            used = min(len(paths), used + settings.wave_branches)
        paths = paths[:used]
    ranked = _ranked(record, paths, ranker, doubt_yield) if sampled_programs(paths) else []
    answer = ranked[0][0].answer if ranked else None  # none completed: no answer, as live
    return is_correct(answer, record.answer), sum(p.tokens for p in paths)


def replay(
    record: SampledProblem,
    branches: int,
    aggregation: Aggregation,
    scorer: PathScorer | None = None,
    settings: PlannerConfig | None = None,
    ranker: AnswerRanker | None = None,
) -> tuple[bool, int]:
    """(right, tokens) of answering from the first `branches` sampled paths."""
    if aggregation in ("ranked", "ranked_adaptive"):
        if ranker is None:
            raise ValueError(f"aggregation {aggregation!r} needs an answer ranker")
        waves = (settings or PlannerConfig()) if aggregation == "ranked_adaptive" else None
        doubt_yield = settings.doubt_yield if settings is not None else 0.0
        return replay_ranked(record, branches, ranker, waves, doubt_yield)
    paths = record.paths[:branches]
    if aggregation == "greedy":
        paths = paths[:1]
    if aggregation == "adaptive":
        config = settings or PlannerConfig()
        used = config.initial_branches or branches
        while True:
            window = paths[:used]
            finals = [(p, p.rows[-1]) for p in window if p.answer is not None and p.rows]
            _, share, count = _vote(finals, scorer)
            if used >= len(paths) or (
                count >= config.settle_votes and share >= config.settle_share
            ):
                break
            used = min(len(paths), used + config.wave_branches)
        paths = paths[:used]
    finals = [(p, p.rows[-1]) for p in paths if p.answer is not None and p.rows]
    use_scorer = scorer if aggregation in ("weighted", "adaptive") else None
    answer, _, _ = _vote(finals, use_scorer)
    return is_correct(answer, record.answer), sum(p.tokens for p in paths)
