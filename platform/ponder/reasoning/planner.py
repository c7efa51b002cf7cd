"""The reasoning planner: runs a plan's branches concurrently, scores partial paths after
every node, prunes weak branches (aborting their decoder calls), stops early when strong
paths agree, and answers from the best path.

Events are yielded as they happen, so StreamReason can forward them; `reason` collects
them into one result.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ponder.errors import Unavailable
from ponder.generation import TokenMeter
from ponder.reasoning.cache import CacheCounters, CacheUnavailable, ScoreCache, score_key
from ponder.reasoning.paths import (
    PathState,
    PathStatus,
    answers_agree,
    path_features,
    path_prefix_key,
    stable_hash,
)
from ponder.reasoning.plan import (
    DEFAULT_STRATEGY_ORDER,
    Conditions,
    NodeKind,
    Plan,
    Strategy,
    build_plan,
    extract_conditions,
    format_number,
)
from ponder.reasoning.scorer import PathScorer, sigmoid
from ponder.reasoning.steps import (
    BranchFailed,
    BranchRunner,
    PlannerDecoder,
    StepBudget,
    StepRecord,
)
from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)


class Selection(enum.Enum):
    BEST = "best"
    VOTE = "vote"


@dataclass(frozen=True)
class PlannerSettings:
    """How the planner prunes, stops and selects."""

    prune_below: float = 0.002
    prune_below_best_fraction: float = 0.2
    keep_top: int = 16
    early_stop_score: float = 0.8
    early_stop_agree: int = 2
    selection: Selection = Selection.BEST
    sample_temperature: float = 0.7
    step_budget: StepBudget = field(default_factory=StepBudget)


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

_DONE = object()

# Receives (reasoning id, path, features) at every scoring pass; used to collect training data.
FeatureSink = Callable[[str, PathState, list[float]], None]


class ReasoningPlanner:
    """Plans, fans out, scores, prunes and selects. Decoder, scorer and cache are injected."""

    def __init__(
        self,
        decoder: PlannerDecoder,
        scorer: Callable[[], PathScorer],
        cache: ScoreCache,
        settings: PlannerSettings | None = None,
        feature_sink: FeatureSink | None = None,
    ) -> None:
        self._decoder = decoder
        self._scorer = scorer
        self._cache = cache
        self._settings = settings or PlannerSettings()
        self._feature_sink = feature_sink

    async def reason(
        self,
        problem: str,
        budget: ReasonBudget,
        reasoning_id: str,
        adapter: str | None = None,
        scorer: PathScorer | None = None,
    ) -> ReasonResult:
        async for event in self.run(problem, budget, reasoning_id, adapter, scorer):
            if isinstance(event, Finished):
                return event.result
        raise RuntimeError("planner ended without a result")

    async def run(
        self,
        problem: str,
        budget: ReasonBudget,
        reasoning_id: str,
        adapter: str | None = None,
        scorer: PathScorer | None = None,
    ) -> AsyncIterator[ReasonEvent]:
        """Events of one request; scorer overrides the injected one (e.g. a tenant's)."""
        settings = self._settings
        scorer = scorer or self._scorer()  # one version for the whole request
        with span("plan", reasoning_id=reasoning_id, scorer_version=scorer.version) as current:
            conditions = extract_conditions(problem)
            plan = build_plan(budget.strategies, budget.max_branches, settings.sample_temperature)
            current.set_attribute("ponder.branches", len(plan.branches))
        yield PlanBuilt(plan)

        paths = {spec.id: PathState(spec) for spec in plan.branches}
        tokens_left = [budget.max_tokens]
        meter = TokenMeter()
        counters = CacheCounters()
        problem_hash = stable_hash(problem)
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        decoder_calls = 0
        rows_by_step: dict[str, dict[int, list[float]]] = {pid: {} for pid in paths}

        async def rescore() -> None:
            with span("score", scorer_version=scorer.version):
                await self._score(
                    scorer, paths, conditions, problem, problem_hash, counters, reasoning_id
                )
            for path_id, path in paths.items():
                if path.last_features is not None:
                    rows_by_step[path_id][len(path.steps)] = path.last_features

        async def drive(runner: BranchRunner, branch_id: str) -> None:
            with span("branch", branch_id=branch_id, strategy=paths[branch_id].spec.strategy.value):
                await drive_steps(runner, branch_id)

        async def drive_steps(runner: BranchRunner, branch_id: str) -> None:
            try:
                async for step in runner.run():
                    queue.put_nowait((branch_id, step))
            except BranchFailed as error:
                queue.put_nowait((branch_id, error))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in one branch must not sink the others
                log.exception("branch %s crashed", branch_id)
                queue.put_nowait((branch_id, BranchFailed(type(error).__name__)))
            else:
                queue.put_nowait((branch_id, _DONE))

        tasks: dict[str, asyncio.Task[None]] = {}
        for spec in plan.branches:
            runner = BranchRunner(
                self._decoder,
                problem,
                conditions,
                spec,
                reasoning_id,
                adapter,
                settings.step_budget,
                tokens_left,
                meter,
            )
            tasks[spec.id] = asyncio.create_task(drive(runner, spec.id))
            yield BranchStarted(spec.id, spec.strategy)

        def stop(branch_id: str, status: PathStatus, note: str) -> None:
            path = paths[branch_id]
            path.status, path.note = status, note
            task = tasks[branch_id]
            if not task.done():
                task.cancel()  # aborts the branch's in-flight decoder call

        try:
            while any(p.status is PathStatus.RUNNING for p in paths.values()):
                branch_id, item = await queue.get()
                path = paths[branch_id]
                if path.status is not PathStatus.RUNNING:
                    continue  # pruned while this item was queued
                if isinstance(item, StepRecord):
                    path.steps.append(item)
                    if item.tokens:
                        decoder_calls += 1
                    if item.kind is NodeKind.ANSWER:
                        path.answer = item.value
                    await rescore()
                    yield StepDone(branch_id, item, path.score)
                else:
                    if isinstance(item, BranchFailed):
                        stop(branch_id, PathStatus.FAILED, item.message)
                    elif path.answer is None:
                        stop(branch_id, PathStatus.FAILED, "no answer")
                    else:
                        path.status = PathStatus.COMPLETED
                        await rescore()
                    yield BranchDone(branch_id, path.status, path.answer, path.score, path.note)
                for pruned_id, reason in self._prune_decisions(paths):
                    stop(pruned_id, PathStatus.PRUNED, reason)
                    yield BranchPruned(pruned_id, reason, paths[pruned_id].score)
        finally:
            for task in tasks.values():
                task.cancel()
            for task in tasks.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        chosen = self._select(list(paths.values()))
        if chosen is None:
            notes = "; ".join(f"{p.spec.id}: {p.note}" for p in paths.values())
            raise Unavailable(f"reasoning: no branch produced an answer ({notes})")
        assert chosen.answer is not None
        yield Finished(
            ReasonResult(
                reasoning_id=reasoning_id,
                answer=format_number(chosen.answer),
                numeric_answer=chosen.answer,
                plan=plan,
                paths=tuple(paths.values()),
                chosen_path_id=chosen.spec.id,
                decoder_calls=decoder_calls,
                prompt_tokens=sum(p.prompt_tokens for p in paths.values()),
                completion_tokens=max(meter.generated, sum(p.tokens for p in paths.values())),
                kept_tokens=sum(p.tokens for p in paths.values()),
                adapter=adapter,
                scorer_version=scorer.version,
                cache=counters,
                path_rows={
                    pid: tuple(tuple(row) for _, row in sorted(rows.items()))
                    for pid, rows in rows_by_step.items()
                },
            )
        )

    async def _score(
        self,
        scorer: PathScorer,
        paths: dict[str, PathState],
        conditions: Conditions,
        problem: str,
        problem_hash: str,
        counters: CacheCounters,
        reasoning_id: str,
    ) -> None:
        """Score every live or completed path; one cache read, one cache write."""
        live = [
            p
            for p in paths.values()
            if p.status in (PathStatus.RUNNING, PathStatus.COMPLETED) and p.steps
        ]
        if not live:
            return
        everyone = list(paths.values())
        rows = [path_features(p, everyone, conditions, len(problem)) for p in live]
        if self._feature_sink is not None:
            for path, row in zip(live, rows, strict=True):
                self._feature_sink(reasoning_id, path, row)
        keys = [score_key(scorer.version, problem_hash, path_prefix_key(p)) for p in live]
        try:
            cached = await self._cache.get_many(keys)
        except CacheUnavailable:
            cached = [None] * len(keys)
            counters.bypassed += len(keys)
        missing = [i for i, value in enumerate(cached) if value is None]
        counters.hits += len(keys) - len(missing)
        counters.misses += len(missing)
        # The cache holds each prefix's own logit; the agreement part is added here.
        fresh = scorer.own_logits([rows[i] for i in missing])
        for index, own in zip(missing, fresh, strict=True):
            cached[index] = own
        context = scorer.context_logits(rows)
        for path, row, own_logit, context_logit in zip(live, rows, cached, context, strict=True):
            assert own_logit is not None
            path.score = sigmoid(own_logit + context_logit)
            path.last_features = row
        if missing:
            with contextlib.suppress(CacheUnavailable):
                await self._cache.put_many(
                    {keys[i]: v for i, v in zip(missing, fresh, strict=True)}
                )

    def _prune_decisions(self, paths: dict[str, PathState]) -> list[tuple[str, str]]:
        """Which running branches to stop now, and why."""
        settings = self._settings
        running = [p for p in paths.values() if p.status is PathStatus.RUNNING]
        completed = [p for p in paths.values() if p.status is PathStatus.COMPLETED]
        if not running:
            return []
        for path in completed:
            agreeing = [
                q
                for q in completed
                if q.answer is not None
                and path.answer is not None
                and answers_agree(q.answer, path.answer)
            ]
            if len(agreeing) >= settings.early_stop_agree and all(
                q.score >= settings.early_stop_score for q in agreeing
            ):
                return [(p.spec.id, "early stop: strong answers agree") for p in running]
        decisions: list[tuple[str, str]] = []
        contenders = sorted(
            (p for p in paths.values() if p.status in (PathStatus.RUNNING, PathStatus.COMPLETED)),
            key=lambda p: p.score,
            reverse=True,
        )
        best = contenders[0].score if contenders else 0.0
        # Partial scores of different strategies are not comparable; the relative bar is
        # set by answers already in hand.
        best_answer = max((p.score for p in completed), default=0.0)
        for rank, path in enumerate(contenders):
            if path.status is not PathStatus.RUNNING or not path.steps:
                continue
            threshold = max(settings.prune_below, settings.prune_below_best_fraction * best_answer)
            if path.score < threshold and path.score < best:
                decisions.append(
                    (path.spec.id, f"score {path.score:.3f} below threshold {threshold:.3f}")
                )
            elif rank >= settings.keep_top:
                decisions.append((path.spec.id, f"outside the top {settings.keep_top}"))
        return decisions

    def _select(self, paths: list[PathState]) -> PathState | None:
        completed = [p for p in paths if p.status is PathStatus.COMPLETED and p.answer is not None]
        if not completed:
            return None
        if self._settings.selection is Selection.BEST:
            return max(completed, key=lambda p: p.score)
        groups: list[list[PathState]] = []
        for path in completed:
            for group in groups:
                if answers_agree(group[0].answer or 0.0, path.answer or 0.0):
                    group.append(path)
                    break
            else:
                groups.append([path])
        winner = max(groups, key=lambda g: sum(p.score for p in g))
        return max(winner, key=lambda p: p.score)


@dataclass(frozen=True)
class ReasonCall:
    """A validated Reason request as the planner deployment receives it."""

    problem: str
    budget: ReasonBudget
    reasoning_id: str
    adapter: str | None = None
    scope: str = "shared"  # whose path scorer scores it (and whose its outcome trains)
