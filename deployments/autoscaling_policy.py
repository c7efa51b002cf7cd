"""Serve's autoscaling policy for decoder sets: the requests Serve counts, and the queue
inside each replica's engine.

Serve's default rule scales on ongoing requests per replica. A decoder replica admits
more requests than its engine can run at once (continuous batching wants a deep queue),
so the ongoing count can sit on target while vLLM's own waiting queue grows: long
prompts, a full KV cache, preempted sequences. Each decoder replica reports its engine's
running and waiting requests (`Decoder.record_autoscaling_stats`, averaged by Serve over
`look_back_period_s`), and this policy takes the larger of two proportional rules:

    by_ongoing = total ongoing requests / target_ongoing_requests     (Serve's rule)
    by_queue   = replicas x (mean engine waiting per replica) / target_engine_waiting

Serve applies min/max replicas, the scaling factors and the up/down delays around it.
Ray pickles this module by value into its controller: it imports nothing of Ponder's.
"""

from __future__ import annotations

from typing import Any

ENGINE_RUNNING = "engine_running"
ENGINE_WAITING = "engine_waiting"
ENGINE_KV_CACHE_USAGE = "engine_kv_cache_usage"
POLICY_PATH = "deployments.autoscaling_policy:EngineQueuePolicy"


class EngineQueuePolicy:
    """Desired replicas from ongoing requests and the engines' waiting queues."""

    def __init__(self, target_ongoing_requests: float, target_engine_waiting: float) -> None:
        if target_ongoing_requests <= 0 or target_engine_waiting <= 0:
            raise ValueError("targets must be positive")
        self.target_ongoing_requests = float(target_ongoing_requests)
        self.target_engine_waiting = float(target_engine_waiting)

    def __call__(self, ctx: Any) -> tuple[float, dict[str, Any]]:
        replicas = int(ctx.current_num_replicas)
        state = dict(ctx.policy_state or {})
        if replicas == 0:
            return float(ctx.target_num_replicas), state
        by_ongoing = float(ctx.total_num_requests) / self.target_ongoing_requests
        waiting = self.mean_waiting(ctx.aggregated_metrics)
        by_queue = replicas * waiting / self.target_engine_waiting
        state.update(
            {
                "by_ongoing": round(by_ongoing, 3),
                "by_queue": round(by_queue, 3),
                "engine_waiting_mean": round(waiting, 3),
            }
        )
        return max(by_ongoing, by_queue), state

    @staticmethod
    def mean_waiting(metrics: dict[str, dict[Any, float]] | None) -> float:
        """Mean of the replicas' reported engine queues (0 before any report)."""
        per_replica = (metrics or {}).get(ENGINE_WAITING) or {}
        return sum(per_replica.values()) / len(per_replica) if per_replica else 0.0
