"""Engine statistics feed the decoder's load and Serve's autoscaling: vLLM's scheduler
snapshot is kept (running, waiting, KV-cache usage, prefix-cache hit rate), and the
decoder sets' policy scales on the engine's waiting queue as well as on ongoing requests,
through Ray Serve's own config and policy wrapper."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from ray.serve._private.common import DeploymentID, ReplicaID
from ray.serve.autoscaling_policy import _apply_autoscaling_config
from ray.serve.config import AutoscalingConfig, AutoscalingContext
from vllm.v1.metrics.stats import PrefixCacheStats, SchedulerStats

from deployments.autoscaling_policy import ENGINE_WAITING, POLICY_PATH, EngineQueuePolicy
from deployments.decoder import engine_load_metrics
from deployments.ray_options import serve_options
from ponder.config import PonderConfig
from ponder.engine.protocol import EngineStats
from ponder.engine.vllm_stats import EngineLoad

DECODER_SCALING = {
    "num_replicas": None,
    "autoscaling": {
        "min_replicas": 1,
        "max_replicas": 8,
        "target_ongoing_requests": 32,
        "target_engine_waiting": 4,
        "upscale_delay_s": 0,
        "downscale_delay_s": 0,
    },
}


def _context(
    config: AutoscalingConfig, replicas: int, ongoing: float, waiting: list[float] | None
) -> AutoscalingContext:
    deployment = DeploymentID(name="Decoder", app_name="ponder")
    ids = [ReplicaID(unique_id=f"r{i}", deployment_id=deployment) for i in range(replicas)]
    metrics: dict[str, dict[Any, float]] = {}
    if waiting is not None:
        metrics[ENGINE_WAITING] = dict(zip(ids, waiting, strict=True))
    return AutoscalingContext(
        deployment_id=deployment,
        deployment_name="Decoder",
        app_name="ponder",
        current_num_replicas=replicas,
        target_num_replicas=replicas,
        running_replicas=ids,
        total_num_requests=ongoing,
        total_queued_requests=0.0,
        aggregated_metrics=metrics,
        raw_metrics={},
        capacity_adjusted_min_replicas=config.min_replicas,
        capacity_adjusted_max_replicas=config.max_replicas,
        policy_state={},
        last_scale_up_time=None,
        last_scale_down_time=None,
        current_time=None,
        config=config,
    )


@pytest.fixture
def serve_config() -> AutoscalingConfig:
    config = PonderConfig.model_validate({"decoder": {"deployment": DECODER_SCALING}})
    return AutoscalingConfig(**serve_options(config.decoder.deployment)["autoscaling_config"])


def _decide(config: AutoscalingConfig, replicas: int, ongoing: float, waiting: Any) -> int:
    policy = config.policy.get_policy()
    assert isinstance(policy, type) and issubclass(policy, EngineQueuePolicy)
    wrapped = _apply_autoscaling_config(policy(**config.policy.policy_kwargs))
    decision, _ = wrapped(_context(config, replicas, ongoing, waiting))
    return int(decision)


def test_serve_takes_the_policy_by_its_import_path(serve_config: AutoscalingConfig) -> None:
    assert serve_config.policy.policy_function == POLICY_PATH
    assert serve_config.policy.policy_kwargs == {
        "target_ongoing_requests": 32,
        "target_engine_waiting": 4,
    }


def test_a_growing_engine_queue_scales_up_while_ongoing_requests_are_on_target(
    serve_config: AutoscalingConfig,
) -> None:
    # 2 replicas with 64 ongoing requests: on target for Serve's own rule
    assert _decide(serve_config, 2, ongoing=64, waiting=[0.0, 0.0]) == 2
    # the same ongoing count, but each engine holds 12 waiting (target 4): x3
    assert _decide(serve_config, 2, ongoing=64, waiting=[12.0, 12.0]) == 6
    # (Serve's controller bounds the decision by min/max_replicas afterwards)
    assert _decide(serve_config, 2, ongoing=64, waiting=[40.0, 40.0]) == 20


def test_without_engine_reports_it_is_serves_rule(serve_config: AutoscalingConfig) -> None:
    assert _decide(serve_config, 2, ongoing=192, waiting=None) == 6
    assert _decide(serve_config, 4, ongoing=32, waiting=[0.0, 0.0, 0.0, 0.0]) == 1


def test_only_decoders_with_engine_metrics_may_scale_on_the_engine_queue() -> None:
    with pytest.raises(ValidationError, match="only decoder sets"):
        PonderConfig.model_validate({"planner": {"deployment": DECODER_SCALING}})
    with pytest.raises(ValidationError, match="engine_metrics"):
        PonderConfig.model_validate(
            {"decoder": {"deployment": DECODER_SCALING, "engine": {"engine_metrics": False}}}
        )
    plain = PonderConfig().decoder.deployment
    assert "autoscaling_config" not in serve_options(plain)


def test_engine_load_keeps_the_latest_snapshot_and_a_running_hit_rate() -> None:
    load = EngineLoad()
    logger = load.logger_factory()(vllm_config=None, engine_index=0)
    first = SchedulerStats(num_running_reqs=3, num_waiting_reqs=5, kv_cache_usage=0.25)
    first.prefix_cache_stats = PrefixCacheStats(requests=2, queries=100, hits=0)
    logger.record(first, None)
    second = SchedulerStats(num_running_reqs=4, num_waiting_reqs=1, num_skipped_waiting_reqs=1)
    second.prefix_cache_stats = PrefixCacheStats(requests=1, queries=100, hits=80)
    logger.record(second, None)
    logger.record(None, None)  # a step without scheduler stats changes nothing
    snapshot = load.snapshot
    assert (snapshot.running, snapshot.waiting) == (4, 2)
    assert snapshot.prefix_hit_rate == pytest.approx(0.4)
    metrics = engine_load_metrics(
        EngineStats(unfinished_requests=6, max_model_len=64, running=4, waiting=2)
    )
    assert metrics[ENGINE_WAITING] == 2.0
