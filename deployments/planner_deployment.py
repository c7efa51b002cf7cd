"""Planner deployment: the reasoning planner, calling the decoder replica set via a handle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import cast

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.metrics import PlannerMetrics
from deployments.remote_errors import original_error
from ponder.config import PlannerConfig, RedisConfig
from ponder.errors import PonderError, Unavailable
from ponder.generation import (
    GenerationChunk,
    GenerationRequest,
    GenerationResult,
    TokenMeter,
    collect_chunks,
)
from ponder.learning.model_registry import BASE_VERSION, ModelRegistry, ModelVersion
from ponder.learning.outcome_log import OutcomeLog
from ponder.learning.ranker_registry import RankerRegistry
from ponder.learning.records import ReasoningRecord
from ponder.learning.registry import ScorerRegistry
from ponder.learning.watcher import ModelWatcher, RankerWatcher, ScorerWatcher
from ponder.reasoning.cache import NoScoreCache, RedisScoreCache, ScoreCache
from ponder.reasoning.path_scorer import DEFAULT_SCORER_PATH, PathScorer, load_scorer
from ponder.reasoning.ranker import DEFAULT_RANKER_PATH, AnswerRanker, load_ranker
from ponder.reasoning.reasoning_planner import ReasoningPlanner
from ponder.reasoning.requests import Finished, ReasonCall, ReasonEvent, ReasonResult
from ponder.reasoning.selection import SEARCH_PATH_ID
from ponder.redis_client import connect
from ponder.telemetry.tracing import correlate_logs, span

log = logging.getLogger("ray.serve")


class HandleDecoder:
    """PlannerDecoder over the decoder deployments (a request's `model` picks the set);
    cancelling a call aborts it in vLLM."""

    def __init__(self, handles: dict[str, DeploymentHandle]) -> None:
        self._streams = {name: handle.options(stream=True) for name, handle in handles.items()}

    async def complete(
        self, request: GenerationRequest, meter: TokenMeter | None = None
    ) -> GenerationResult:
        # Streamed, so the tokens of a call that is cancelled midway are counted too.
        stream = self._streams[request.model]
        response = stream.stream.remote(request)  # carries the current trace
        try:
            return await collect_chunks(cast(AsyncIterator[GenerationChunk], response), meter)
        except asyncio.CancelledError:
            response.cancel()  # a pruned branch: stop its generation now
            raise
        except Exception as error:
            cause = original_error(error)
            if isinstance(cause, PonderError):
                raise cause from None
            raise Unavailable(f"decoder call failed: {type(cause).__name__}") from None


@serve.deployment(name="Planner")
class Planner:
    """Runs Reason requests: plan, fan out to decoders, score (Redis cache), prune, select;
    logs each answer for outcome learning and hot-reloads promoted scorer versions."""

    def __init__(
        self,
        decoder: DeploymentHandle,
        config: PlannerConfig,
        redis_config: RedisConfig,
        student: DeploymentHandle | None = None,
        student_name: str = "",
        model_refresh: bool = False,
    ) -> None:
        """model_refresh: the student's replicas load refresh adapters; the planner's
        branches on the student then use the scope's active model version."""
        path = Path(config.scorer_path) if config.scorer_path else DEFAULT_SCORER_PATH
        default = load_scorer(path)
        self._default = default
        self._stop = asyncio.Event()
        self._metrics = PlannerMetrics()
        correlate_logs()
        ranker: AnswerRanker | None = None
        if config.selection == "ranker":
            ranker = load_ranker(
                Path(config.ranker_path) if config.ranker_path else DEFAULT_RANKER_PATH
            )
        self._ranker = ranker
        self._watcher: ScorerWatcher | None = None
        self._ranker_watcher: RankerWatcher | None = None
        self._model_watcher: ModelWatcher | None = None
        self._student_name = student_name
        self._outcome_log: OutcomeLog | None = None
        cache: ScoreCache = NoScoreCache()
        if redis_config.url:
            client = connect(redis_config)
            if config.cache.enabled:
                cache = RedisScoreCache(client, config.cache.ttl_s)
            if config.learning.enabled:
                self._outcome_log = OutcomeLog(
                    client,
                    config.learning.retention_s,
                    tenant_quota_bytes=config.learning.tenant_record_quota_bytes,
                )
                self._watcher = ScorerWatcher(ScorerRegistry(client), default)
                self._reload_task = asyncio.get_running_loop().create_task(
                    self._watcher.run(config.learning.reload_interval_s, self._stop)
                )
                if model_refresh and student_name:
                    base = ModelVersion(BASE_VERSION, student_name, "", 0, "seed")
                    self._model_watcher = ModelWatcher(ModelRegistry(client), base)
                    self._model_reload_task = asyncio.get_running_loop().create_task(
                        self._model_watcher.run(config.learning.reload_interval_s, self._stop)
                    )
                if ranker is not None and config.learning.ranker_learning:
                    self._ranker_watcher = RankerWatcher(RankerRegistry(client), ranker)
                    self._ranker_reload_task = asyncio.get_running_loop().create_task(
                        self._ranker_watcher.run(config.learning.reload_interval_s, self._stop)
                    )
        else:
            log.warning("no Redis configured: path scores not cached, outcome learning off")
        log.info("path scorer %s loaded", default.version)
        decoders = {"": decoder}
        if student is not None:
            decoders[student_name] = student
        self._planner = ReasoningPlanner(
            HandleDecoder(decoders), lambda: default, cache, config, ranker=ranker
        )

    def _scorer(self, call: ReasonCall) -> PathScorer:
        return self._watcher.current(call.scope) if self._watcher else self._default

    def _answer_ranker(self, call: ReasonCall) -> AnswerRanker | None:
        """The scope's active answer ranker (None: selection is not by ranker)."""
        if self._ranker_watcher is not None:
            return self._ranker_watcher.current(call.scope)
        return self._ranker

    def _adapter(self, call: ReasonCall) -> str | None:
        """The adapter of the call's branches: the scope's active refresh version when
        they run on the student and the call names no adapter, else the call's."""
        if self._model_watcher is None or call.adapter or call.model != self._student_name:
            return call.adapter
        active = self._model_watcher.current(call.scope).name
        return None if active == BASE_VERSION else active

    async def reason(self, call: ReasonCall) -> ReasonResult:
        """The finished result only (the events of `run`, drained)."""
        async for event in self.run(call):
            if isinstance(event, Finished):
                return event.result
        raise RuntimeError("planner ended without a result")

    async def run(self, call: ReasonCall) -> AsyncIterator[ReasonEvent]:
        """Events as they happen (call with handle.options(stream=True))."""
        async for event in self._planner.run(
            call.problem,
            call.budget,
            call.reasoning_id,
            self._adapter(call),
            self._scorer(call),
            call.model,
            call.tenant,
            self._answer_ranker(call),
        ):
            if isinstance(event, Finished):
                event = Finished(await self._finish(event.result, call))
            yield event

    async def _finish(self, result: ReasonResult, call: ReasonCall) -> ReasonResult:
        """Count the request's branches and cache lookups; write its paths to the outcome
        log, so its outcome can be reported."""
        metrics = self._metrics
        branches = [p for p in result.paths if p.spec.id != SEARCH_PATH_ID]  # search: no branch
        started = [p for p in branches if p.started]
        metrics.branches.inc(len(started), tags={"outcome": "started"})
        for path in branches:
            outcome = path.status.value if path.started else "not_started"
            metrics.branches.inc(tags={"outcome": outcome})
        for name, count in (
            ("hit", result.cache.hits),
            ("miss", result.cache.misses),
            ("bypassed", result.cache.bypassed),
        ):
            if count:
                metrics.cache.inc(count, tags={"result": name})
        metrics.scorer_versions(self.scorer_versions())
        if self._outcome_log is None:
            return result
        try:
            with span("outcome_log.record", reasoning_id=result.reasoning_id):
                await self._outcome_log.record(
                    ReasoningRecord.from_result(result, call.scope, call.tenant, call.problem)
                )
        except Exception as error:  # the answer still goes out; it just cannot be reported
            log.warning("reasoning %s not logged: %s", result.reasoning_id, error)
            metrics.unlogged.inc()
            return result
        return replace(result, outcome_reportable=True)

    def ranker_versions(self) -> dict[str, str]:
        """The answer-ranker version per scope this replica uses now."""
        if self._ranker_watcher is None:
            return {"shared": self._ranker.version} if self._ranker else {}
        return self._ranker_watcher.versions() or {
            "shared": self._ranker.version if self._ranker else ""
        }

    def model_versions(self) -> dict[str, str]:
        """The model version (base or a refresh adapter) per scope this replica uses now."""
        return self._model_watcher.versions() if self._model_watcher else {}

    def scorer_versions(self) -> dict[str, str]:
        """The scorer version per scope this replica uses now."""
        if self._watcher is None:
            return {"shared": self._default.version}
        return self._watcher.versions() or {"shared": self._default.version}

    def __del__(self) -> None:
        self._stop.set()
