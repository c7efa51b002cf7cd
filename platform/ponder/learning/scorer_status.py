"""What GetScorer and `ponder scorer status` report about one scope's scorer and answer
ranker."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ponder.learning.learner import LearnerState
from ponder.learning.model_registry import ModelRegistry, ModelVersion
from ponder.learning.online import Metrics
from ponder.learning.outcome_log import Keys, OutcomeLog
from ponder.learning.ranker_learner import RankerProgress, ranker_progress
from ponder.learning.ranker_registry import RankerRegistry, RankerVersion
from ponder.learning.records import SHARED_SCOPE
from ponder.learning.registry import ScorerRegistry, VersionInfo


@dataclass(frozen=True)
class ScorerStatus:
    scope: str
    active: VersionInfo
    candidate: VersionInfo | None
    active_heldout: Metrics | None  # on the outcomes the latest proposal was measured on
    outcomes_reported: int
    outcomes_applied: int
    outcomes_pending: int
    progressive_log_loss: float


async def scorer_status(client: Redis, scope: str, keys: Keys | None = None) -> ScorerStatus:
    keys = keys or Keys()
    registry = ScorerRegistry(client, keys)
    outcome_log = OutcomeLog(client, retention_s=60, keys=keys)  # read-only use
    active = await registry.active(scope)
    candidate = await registry.candidate(scope)
    latest = candidate if candidate is not None else active
    active_heldout = (
        latest.compared_heldout if latest.compared_to == active.version else active.heldout
    )
    state = await LearnerState.load(client, keys)
    scope_state = state.scopes.get(scope)
    # Counted for this scope only: one tenant learns nothing of another's traffic.
    reported = await outcome_log.reported_count(scope)
    progressive = 0.0
    if scope_state is not None and scope_state.progressive_examples:
        progressive = scope_state.progressive_loss_sum / scope_state.progressive_examples
    return ScorerStatus(
        scope=scope,
        active=active,
        candidate=candidate,
        active_heldout=active_heldout,
        outcomes_reported=reported,
        outcomes_applied=scope_state.applied if scope_state else 0,
        outcomes_pending=max(0, reported - state.settled.get(scope, 0)),
        progressive_log_loss=progressive,
    )


@dataclass(frozen=True)
class RankerStatus:
    scope: str
    active: RankerVersion
    latest: RankerVersion | None
    progress: RankerProgress


async def ranker_status(client: Redis, scope: str, keys: Keys | None = None) -> RankerStatus:
    """The scope's answer ranker: active and latest versions, examples; raises NotFound
    when the scope has no ranker of its own yet."""
    keys = keys or Keys()
    registry = RankerRegistry(client, keys)
    return RankerStatus(
        scope=scope,
        active=await registry.active(scope),
        latest=await registry.latest(scope),
        progress=await ranker_progress(client, keys, scope),
    )


@dataclass(frozen=True)
class ModelStatus:
    """The served model version of one scope (outcome-driven refresh)."""

    scope: str
    active: ModelVersion
    kept_versions: int


async def model_status(client: Redis, scope: str, base_model: str) -> ModelStatus:
    """The scope's active model version (the shared one's until the scope has its own;
    the base model before any refresh)."""
    registry = ModelRegistry(client)
    if await registry.active_version(scope) is None:
        scope = SHARED_SCOPE
    await registry.seed_base(scope, base_model)
    active = await registry.active(scope)
    return ModelStatus(scope, active, len(await registry.versions(scope)))
