"""Learner deployment: one replica running the online learner over the outcome log.

Serve restarts the replica if it dies; the new one resumes from the consumer group's
pending entries and the state saved with every acknowledgement (see ponder.learning).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ray import serve
from redis.asyncio import Redis
from redis.exceptions import RedisError

from deployments.metrics import LearnerMetrics
from ponder.config import LearningConfig, RedisConfig
from ponder.learning.learner import Learner
from ponder.learning.ranker_learner import RankerLearner
from ponder.learning.registry import VersionInfo
from ponder.reasoning.path_scorer import DEFAULT_SCORER_PATH, load_scorer
from ponder.reasoning.ranker import DEFAULT_RANKER_PATH, load_ranker
from ponder.reasoning.ranker_fit import DEFAULT_REHEARSAL_PATH
from ponder.redis_client import connect
from ponder.telemetry.tracing import correlate_logs

log = logging.getLogger("ray.serve")


@serve.deployment(name="Learner")
class LearnerDeployment:
    async def __init__(  # type: ignore[misc]
        self,
        redis_config: RedisConfig,
        config: LearningConfig,
        scorer_path: str,
        ranker_path: str | None = None,
    ) -> None:
        """ranker_path: the planners' answer ranker ("" the packaged one; None when they
        select answers without one: then there is no ranker to learn)."""
        default = load_scorer(Path(scorer_path) if scorer_path else DEFAULT_SCORER_PATH)
        client = connect(redis_config, blocking_reads_s=config.poll_block_ms / 1000)
        self._metrics = LearnerMetrics()
        correlate_logs()
        self._config = config
        self._dead_seen = 0
        self._learner = Learner(client, config, default, observer=self._observe)
        await self._learner.start()
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._learner.run(self._stop))
        self._memory_task = asyncio.get_running_loop().create_task(self._watch_memory(client))
        self._ranker_learner: RankerLearner | None = None
        if config.ranker_learning and ranker_path is not None:
            ranker = load_ranker(Path(ranker_path) if ranker_path else DEFAULT_RANKER_PATH)
            rehearsal = Path(config.ranker_rehearsal_path or DEFAULT_REHEARSAL_PATH)
            self._ranker_learner = RankerLearner(
                connect(redis_config), config, ranker, rehearsal_path=rehearsal
            )
            self._ranker_task = asyncio.get_running_loop().create_task(
                self._ranker_learner.run(self._stop)
            )
        log.info(
            "learner started: %d outcomes applied so far, last entry %s",
            self._learner.state.applied_total,
            self._learner.state.last_id,
        )

    def _observe(self, applied: int, proposals: list[VersionInfo]) -> None:
        if applied:
            self._metrics.applied.inc(applied)
        for info in proposals:
            self._metrics.proposals.inc(tags={"verdict": info.status})

    async def _watch_memory(self, client: Redis, every_s: float = 15.0) -> None:
        """Export how full Redis is: with `noeviction` a full Redis refuses writes (the
        outcome log is never evicted), so operators must be warned before."""
        while not self._stop.is_set():
            try:
                info = await client.info("memory")
                limit = int(info.get("maxmemory", 0))
                if limit:
                    self._metrics.redis_memory.set(int(info["used_memory"]) / limit)
            except RedisError as error:
                log.warning("Redis memory not read: %s", type(error).__name__)
            await asyncio.sleep(every_s)

    async def status(self) -> dict[str, Any]:
        """Counters of the running learner."""
        state = self._learner.state
        return {
            "applied_total": state.applied_total,
            "last_id": state.last_id,
            "outcomes_per_s": self._learner.throughput(),
            "scopes": {scope: s.applied for scope, s in state.scopes.items()},
            "not_trainer": state.not_trainer,
            "ranker_refits": self._ranker_learner.fits if self._ranker_learner else 0,
        }

    def check_health(self) -> None:
        """Unhealthy when the loop ended or made no progress for stall_timeout_s (it
        applies outcomes or finds none waiting every poll), so Serve restarts it."""
        if self._task.done():
            raise RuntimeError("the learner loop ended")
        if self._ranker_learner is not None and self._ranker_task.done():
            raise RuntimeError("the ranker refit loop ended")
        dead = self._learner.log.dead_lettered
        if dead > self._dead_seen:
            self._metrics.dead_letters.inc(dead - self._dead_seen)
            self._dead_seen = dead
        stalled = self._learner.stalled_for()
        if stalled > self._config.stall_timeout_s:
            raise RuntimeError(f"the learner has made no progress for {stalled:.0f} s")

    def __del__(self) -> None:
        self._stop.set()
        if self._ranker_learner is not None:
            self._ranker_learner.close()
