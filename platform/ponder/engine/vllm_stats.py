"""vLLM's own statistics, read in the replica: the latest scheduler snapshot (running and
waiting requests, KV-cache usage) and the prefix cache's running hit rate.

vLLM hands every stat logger its scheduler stats after each engine step. `EngineLoad` is
one such logger that keeps the last snapshot, so the decoder's `stats()`, its metrics
sampler and Serve's autoscaling policy read the engine's real queue instead of guessing it
from request counts. Imported only where vLLM is (this module imports it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from vllm.v1.metrics.loggers import StatLoggerBase


@dataclass(frozen=True)
class LoadSnapshot:
    """The engine's scheduler state after its latest step."""

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0  # fraction of the KV cache's blocks in use, 0..1
    prefix_queries: int = 0  # prompt tokens looked up in the prefix cache, since start
    prefix_hits: int = 0  # of those, tokens found there

    @property
    def prefix_hit_rate(self) -> float:
        return self.prefix_hits / self.prefix_queries if self.prefix_queries else 0.0


class EngineLoad:
    """Thread-safe holder of the latest snapshot (vLLM records from its output loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = LoadSnapshot()

    @property
    def snapshot(self) -> LoadSnapshot:
        with self._lock:
            return self._snapshot

    def update(self, scheduler_stats: Any) -> None:
        prefix = scheduler_stats.prefix_cache_stats
        with self._lock:
            before = self._snapshot
            self._snapshot = LoadSnapshot(
                running=int(scheduler_stats.num_running_reqs),
                waiting=int(scheduler_stats.num_waiting_reqs)
                + int(scheduler_stats.num_skipped_waiting_reqs),
                kv_cache_usage=float(scheduler_stats.kv_cache_usage),
                # each step reports the lookups of that step; a reset zeroes the cache
                prefix_queries=before.prefix_queries + int(prefix.queries),
                prefix_hits=before.prefix_hits + int(prefix.hits),
            )

    def logger_factory(self) -> Any:
        """A vLLM StatLoggerFactory whose loggers feed this holder."""
        load = self

        class _LoadLogger(StatLoggerBase):
            def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
                self.engine_index = engine_index

            def record(
                self,
                scheduler_stats: Any,
                iteration_stats: Any,
                mm_cache_stats: Any = None,
                engine_idx: int = 0,
            ) -> None:
                if scheduler_stats is not None:
                    load.update(scheduler_stats)

            def log_engine_initialized(self) -> None:
                return None

        return _LoadLogger


def stat_loggers(load: EngineLoad, export_to_ray: bool) -> list[Any]:
    """The loggers an engine starts with: the load holder, and in a Ray replica vLLM's
    Prometheus logger over Ray's metrics (served on each node's metrics export port as
    `ray_vllm_*`). Outside Ray vLLM adds its in-process Prometheus logger itself."""
    loggers: list[Any] = [load.logger_factory()]
    if export_to_ray:
        from vllm.v1.metrics.ray_wrappers import RayPrometheusStatLogger

        loggers.append(RayPrometheusStatLogger)
    return loggers
