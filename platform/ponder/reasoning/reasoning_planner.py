"""The reasoning planner: runs a plan's branches concurrently, scores partial paths after
every node, prunes weak branches (aborting their decoder calls), stops early when strong
paths agree, and answers from the best path.

Events are yielded as they happen, so StreamReason can forward them; `reason` collects
them into one result. Each request is one `RequestRun` (`request_run.py`); which branches
to stop and when the answer is settled is decided in `branch_decisions.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ponder.config import PlannerConfig
from ponder.reasoning.cache import ScoreCache
from ponder.reasoning.path_scorer import PathScorer
from ponder.reasoning.ranker import DEFAULT_RANKER_PATH, AnswerRanker, load_ranker
from ponder.reasoning.request_run import FeatureSink, RequestRun
from ponder.reasoning.requests import Finished, ReasonBudget, ReasonEvent, ReasonResult
from ponder.reasoning.steps import PlannerDecoder

__all__ = ["FeatureSink", "ReasoningPlanner"]


class ReasoningPlanner:
    """Plans, fans out, scores, prunes and selects. Decoder, scorer and cache are injected;
    each request is one `RequestRun`."""

    def __init__(
        self,
        decoder: PlannerDecoder,
        scorer: Callable[[], PathScorer],
        cache: ScoreCache,
        config: PlannerConfig | None = None,
        feature_sink: FeatureSink | None = None,
        ranker: AnswerRanker | None = None,
    ) -> None:
        self._decoder = decoder
        self._scorer = scorer
        self._cache = cache
        self._config = config or PlannerConfig()
        self._feature_sink = feature_sink
        if ranker is None and self._config.selection == "ranker":
            path = self._config.ranker_path
            ranker = load_ranker(Path(path) if path else DEFAULT_RANKER_PATH)
        self._ranker = ranker

    async def reason(
        self,
        problem: str,
        budget: ReasonBudget,
        reasoning_id: str,
        adapter: str | None = None,
        scorer: PathScorer | None = None,
        model: str = "",
        tenant: str = "",
    ) -> ReasonResult:
        async for event in self.run(problem, budget, reasoning_id, adapter, scorer, model, tenant):
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
        model: str = "",
        tenant: str = "",
        ranker: AnswerRanker | None = None,
    ) -> AsyncIterator[ReasonEvent]:
        """Events of one request; scorer and ranker override the injected ones (e.g. a
        tenant's);
        every decoder call goes to decoder set `model` ("" = the main one) with `adapter`;
        cached scores are the caller's `tenant`'s only."""
        run = RequestRun(
            self._decoder,
            scorer or self._scorer(),  # one version for the whole request
            self._cache,
            self._config,
            self._feature_sink,
            problem,
            budget,
            reasoning_id,
            adapter,
            model,
            ranker or self._ranker,
            tenant,
        )
        async for event in run.events():
            yield event
