"""One Reason request from plan to answer: start branches in waves, drive each through
the decoder, rescore every path after each step (through the score cache), stop the
branches `branch_decisions` picks, then select the answer (the answer ranker, the best
path or the score-weighted vote) and report what the request cost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from ponder.config import PlannerConfig
from ponder.generation import TokenMeter
from ponder.reasoning.answer_features import Candidate
from ponder.reasoning.branch_decisions import (
    answer_groups,
    no_answer,
    prune_decisions,
    ranker_settled,
    vote_settled,
)
from ponder.reasoning.cache import (
    CacheCounters,
    CacheUnavailable,
    ScoreCache,
    cache_partition,
    score_key,
)
from ponder.reasoning.cues import read_cues
from ponder.reasoning.path_scorer import PathScorer, sigmoid
from ponder.reasoning.paths import (
    PathState,
    PathStatus,
    path_features,
    path_prefix_key,
    stable_hash,
)
from ponder.reasoning.plan import (
    BranchSpec,
    NodeKind,
    Strategy,
    build_plan,
    extract_conditions,
    format_number,
)
from ponder.reasoning.ranker import AnswerRanker
from ponder.reasoning.requests import (
    BranchDone,
    BranchPruned,
    BranchStarted,
    Finished,
    PlanBuilt,
    ReasonBudget,
    ReasonEvent,
    ReasonResult,
    StepDone,
)
from ponder.reasoning.selection import SEARCH_PATH_ID, chosen_path, rank_paths
from ponder.reasoning.steps import (
    BranchFailed,
    BranchRunner,
    PlannerDecoder,
    StepRecord,
)
from ponder.telemetry.tracing import span

log = logging.getLogger(__name__)


_DONE = object()

# Receives (reasoning id, path, features) at every scoring pass; used to collect training data.
FeatureSink = Callable[[str, PathState, list[float]], None]


class RequestRun:
    """One Reason request: plan, drive every branch, rescore after each step, prune and
    stop branches, then select the answer. Its state lives here, not in closures."""

    def __init__(
        self,
        decoder: PlannerDecoder,
        scorer: PathScorer,
        cache: ScoreCache,
        config: PlannerConfig,
        feature_sink: FeatureSink | None,
        problem: str,
        budget: ReasonBudget,
        reasoning_id: str,
        adapter: str | None,
        model: str = "",
        ranker: AnswerRanker | None = None,
        tenant: str = "",
    ) -> None:
        self.decoder = decoder
        self.scorer = scorer
        self.cache = cache
        self.config = config
        self.feature_sink = feature_sink
        self.problem = problem
        self.budget = budget
        self.reasoning_id = reasoning_id
        self.adapter = adapter
        self.model = model
        self.conditions = extract_conditions(problem)
        self.cues = read_cues(problem)
        self.plan = build_plan(budget.strategies, budget.max_branches, config.sample_temperatures)
        # The ranker was fitted on `pot` programs: other strategies' paths are answered by
        # the score-weighted vote.
        pot_only = all(b.strategy is Strategy.POT for b in self.plan.branches)
        self.ranker = ranker if config.selection == "ranker" and pot_only else None
        self._ranked: list[tuple[Candidate, float]] = []
        self._ranked_on: tuple[tuple[str, float | None], ...] | None = None
        # Started branches only; the rest wait for a wave (PlannerConfig.initial_branches).
        self.paths: dict[str, PathState] = {}
        self.waiting = list(self.plan.branches)
        self.tokens_left = [budget.max_tokens]
        self.meter = TokenMeter()
        self.counters = CacheCounters()
        self.problem_hash = stable_hash(problem)
        self.cache_partition = cache_partition(tenant, model, adapter)
        self.queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.decoder_calls = 0
        self.rows_by_step: dict[str, dict[int, list[float]]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def events(self) -> AsyncIterator[ReasonEvent]:
        with span(
            "plan", reasoning_id=self.reasoning_id, scorer_version=self.scorer.version
        ) as current:
            current.set_attribute("ponder.branches", len(self.plan.branches))
        yield PlanBuilt(self.plan)
        for event in self.start_wave(self.config.initial_branches or len(self.waiting)):
            yield event
        try:
            while True:
                while any(p.status is PathStatus.RUNNING for p in self.paths.values()):
                    branch_id, item = await self.queue.get()
                    async for event in self.take(branch_id, item):
                        yield event
                    for pruned_id, reason in prune_decisions(self.paths.values(), self.config):
                        self.stop(pruned_id, PathStatus.PRUNED, reason)
                        yield BranchPruned(pruned_id, reason, self.paths[pruned_id].score)
                if not self.waiting or self.settled():
                    break
                for event in self.start_wave(self.config.wave_branches):
                    yield event
        finally:
            await self.cancel_all()
        for spec in self.waiting:  # never started: the vote settled before they were needed
            path = self.paths[spec.id] = PathState(spec, status=PathStatus.PRUNED, started=False)
            path.note = f"not started: the answer settled after {len(self.tasks)} branches"
            self.rows_by_step[spec.id] = {}
        self.waiting = []
        yield Finished(self.result())

    def start_wave(self, count: int) -> list[ReasonEvent]:
        """Start the next `count` waiting branches."""
        wave, self.waiting = self.waiting[:count], self.waiting[count:]
        events: list[ReasonEvent] = []
        for spec in wave:
            self.paths[spec.id] = PathState(spec)
            self.rows_by_step[spec.id] = {}
            self.tasks[spec.id] = asyncio.create_task(self.drive(spec))
            events.append(BranchStarted(spec.id, spec.strategy))
        return events

    def ranked(self) -> list[tuple[Candidate, float]]:
        """The answer ranker's candidates on the completed paths, computed once per set of
        completed paths (the last wave's settle check and the selection share it)."""
        assert self.ranker is not None
        done = tuple(
            (p.spec.id, p.answer) for p in self.paths.values() if p.status is PathStatus.COMPLETED
        )
        if self._ranked_on != done:
            self._ranked = rank_paths(
                self.ranker, self.problem, self.paths.values(), self.config.doubt_yield
            )
            self._ranked_on = done
        return self._ranked

    def settled(self) -> bool:
        """Whether the score-weighted vote (or the answer ranker) is decided enough to start
        no more branches."""
        if self.ranker is not None:
            return ranker_settled(self.ranked(), self.config, self.problem)
        return vote_settled(answer_groups(self.paths.values()), self.config)

    async def drive(self, spec: BranchSpec) -> None:
        """Run one branch, queueing each step, then its end (done or failed)."""
        runner = BranchRunner(
            self.decoder,
            self.problem,
            self.conditions,
            spec,
            self.reasoning_id,
            self.adapter,
            self.config.step_tokens,
            self.tokens_left,
            self.meter,
            self.model,
            decoder_verify=self.config.verify_step == "decoder",
        )
        with span("branch", branch_id=spec.id, strategy=spec.strategy.value):
            try:
                async for step in runner.run():
                    self.queue.put_nowait((spec.id, step))
            except BranchFailed as error:
                self.queue.put_nowait((spec.id, error))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in one branch must not sink the others
                log.exception("branch %s crashed", spec.id)
                self.queue.put_nowait((spec.id, BranchFailed(type(error).__name__)))
            else:
                self.queue.put_nowait((spec.id, _DONE))

    async def take(self, branch_id: str, item: object) -> AsyncIterator[ReasonEvent]:
        """Apply one queued item of a branch: a step, its failure or its end."""
        path = self.paths[branch_id]
        if path.status is not PathStatus.RUNNING:
            return  # pruned while this item was queued
        if isinstance(item, StepRecord):
            path.steps.append(item)
            if item.tokens:
                self.decoder_calls += 1
            if item.kind is NodeKind.ANSWER:
                path.answer = item.value
            await self.rescore()
            yield StepDone(branch_id, item, path.score)
            return
        if isinstance(item, BranchFailed):
            path.caller_error = item.caller_error
            self.stop(branch_id, PathStatus.FAILED, item.message)
        elif path.answer is None:
            self.stop(branch_id, PathStatus.FAILED, "no answer")
        else:
            path.status = PathStatus.COMPLETED
            await self.rescore()
        yield BranchDone(branch_id, path.status, path.answer, path.score, path.note)

    async def rescore(self) -> None:
        """Score every live or completed path (one cache read, one cache write) and keep
        each path's latest feature row per step for outcome learning."""
        with span("score", scorer_version=self.scorer.version):
            await self.score()
        for path_id, path in self.paths.items():
            if path.last_features is not None:
                self.rows_by_step[path_id][len(path.steps)] = path.last_features

    async def score(self) -> None:
        live = [
            p
            for p in self.paths.values()
            if p.status in (PathStatus.RUNNING, PathStatus.COMPLETED) and p.steps
        ]
        if not live:
            return
        everyone = list(self.paths.values())
        rows = [
            path_features(p, everyone, self.conditions, len(self.problem), self.cues) for p in live
        ]
        if self.feature_sink is not None:
            for path, row in zip(live, rows, strict=True):
                self.feature_sink(self.reasoning_id, path, row)
        version, partition = self.scorer.version, self.cache_partition
        keys = [score_key(version, self.problem_hash, path_prefix_key(p), partition) for p in live]
        try:
            cached = await self.cache.get_many(keys)
        except CacheUnavailable:
            cached = [None] * len(keys)
            self.counters.bypassed += len(keys)
        missing = [i for i, value in enumerate(cached) if value is None]
        self.counters.hits += len(keys) - len(missing)
        self.counters.misses += len(missing)
        # The cache holds each prefix's own logit; the agreement part is added here.
        fresh = self.scorer.own_logits([rows[i] for i in missing])
        for index, own in zip(missing, fresh, strict=True):
            cached[index] = own
        context = self.scorer.context_logits(rows)
        for path, row, own_logit, context_logit in zip(live, rows, cached, context, strict=True):
            assert own_logit is not None
            path.score = sigmoid(own_logit + context_logit)
            path.last_features = row
        if missing:
            with contextlib.suppress(CacheUnavailable):
                await self.cache.put_many({keys[i]: v for i, v in zip(missing, fresh, strict=True)})

    def stop(self, branch_id: str, status: PathStatus, note: str) -> None:
        """End a branch; a running one is cancelled, which aborts its decoder call."""
        path = self.paths[branch_id]
        path.status, path.note = status, note
        task = self.tasks[branch_id]
        if not task.done():
            task.cancel()

    async def cancel_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def select(self) -> PathState | None:
        completed = [
            p
            for p in self.paths.values()
            if p.status is PathStatus.COMPLETED and p.answer is not None
        ]
        if not completed:
            return None
        if self.ranker is not None:
            chosen = chosen_path(self.ranked(), self.paths.values())
            if chosen is not None and chosen.spec.id == SEARCH_PATH_ID:
                self.paths[SEARCH_PATH_ID] = chosen
                self.rows_by_step[SEARCH_PATH_ID] = {}
            return chosen
        if self.config.selection == "best":
            return max(completed, key=lambda p: p.score)
        winner = answer_groups(self.paths.values())[0]
        return max(winner, key=lambda p: p.score)

    def result(self) -> ReasonResult:
        chosen = self.select()
        paths = self.paths
        if chosen is None:
            notes = "; ".join(f"{p.spec.id}: {p.note}" for p in paths.values())
            raise no_answer(list(paths.values()), notes)
        assert chosen.answer is not None
        kept = sum(p.tokens for p in paths.values())
        return ReasonResult(
            reasoning_id=self.reasoning_id,
            answer=format_number(chosen.answer),
            numeric_answer=chosen.answer,
            plan=self.plan,
            paths=tuple(paths.values()),
            chosen_path_id=chosen.spec.id,
            decoder_calls=self.decoder_calls,
            prompt_tokens=sum(p.prompt_tokens for p in paths.values()),
            completion_tokens=max(self.meter.generated, kept),
            kept_tokens=kept,
            adapter=self.adapter,
            model=self.model,
            scorer_version=self.scorer.version,
            ranker_version=self.ranker.version if self.ranker is not None else "",
            cache=self.counters,
            path_rows={
                pid: tuple(tuple(row) for _, row in sorted(rows.items()))
                for pid, rows in self.rows_by_step.items()
            },
        )
