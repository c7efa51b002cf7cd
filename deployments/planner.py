"""Planner deployment: the reasoning planner, calling the decoder replica set via a handle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.remote_errors import original_error
from ponder.config import PlannerConfig
from ponder.errors import PonderError, Unavailable
from ponder.generation import GenerationRequest, GenerationResult
from ponder.reasoning.cache import NoScoreCache, RedisScoreCache, ScoreCache
from ponder.reasoning.planner import (
    PlannerSettings,
    ReasonCall,
    ReasonEvent,
    ReasoningPlanner,
    ReasonResult,
    Selection,
)
from ponder.reasoning.scorer import DEFAULT_SCORER_PATH, load_scorer

log = logging.getLogger("ray.serve")


class HandleDecoder:
    """PlannerDecoder over the decoder deployment; cancelling a call aborts it in vLLM."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    async def complete(self, request: GenerationRequest) -> GenerationResult:
        response = self._handle.complete.remote(request)
        try:
            result: GenerationResult = await response
        except asyncio.CancelledError:
            response.cancel()  # a pruned branch: stop its generation now
            raise
        except Exception as error:
            cause = original_error(error)
            if isinstance(cause, PonderError):
                raise cause from None
            raise Unavailable(f"decoder call failed: {type(cause).__name__}") from None
        return result


def planner_settings(config: PlannerConfig) -> PlannerSettings:
    return PlannerSettings(
        prune_below=config.prune_below,
        prune_below_best_fraction=config.prune_below_best_fraction,
        keep_top=config.keep_top,
        early_stop_score=config.early_stop_score,
        early_stop_agree=config.early_stop_agree,
        selection=Selection(config.selection),
        sample_temperature=config.sample_temperature,
    )


@serve.deployment(name="Planner")
class Planner:
    """Runs Reason requests: plan, fan out to decoders, score (Redis cache), prune, select."""

    def __init__(self, decoder: DeploymentHandle, config: PlannerConfig) -> None:
        scorer = load_scorer(
            Path(config.scorer_path) if config.scorer_path else DEFAULT_SCORER_PATH
        )
        log.info("path scorer %s loaded", scorer.version)
        cache: ScoreCache = NoScoreCache()
        if config.cache.redis_url:
            cache = RedisScoreCache(config.cache.redis_url, config.cache.ttl_s)
        else:
            log.warning("no Redis configured: path scores are not cached")
        self._planner = ReasoningPlanner(
            HandleDecoder(decoder), lambda: scorer, cache, planner_settings(config)
        )

    async def reason(self, call: ReasonCall) -> ReasonResult:
        return await self._planner.reason(
            call.problem, call.budget, call.reasoning_id, call.adapter
        )

    async def run(self, call: ReasonCall) -> AsyncIterator[ReasonEvent]:
        """Events as they happen (call with handle.options(stream=True))."""
        async for event in self._planner.run(
            call.problem, call.budget, call.reasoning_id, call.adapter
        ):
            yield event
