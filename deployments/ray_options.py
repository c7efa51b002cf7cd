"""What Ray needs from Ponder's config: Serve deployment options and the environment of a
local cluster. The core's config stays free of Ray's vocabulary; this is the one place
that translates it."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from deployments.autoscaling_policy import POLICY_PATH
from deployments.prefix_router import ROUTER_PATH
from ponder import env
from ponder.config import DeploymentConfig, PonderConfig
from ponder.config.engine import DecoderRouting
from ponder.security.local_credentials import ensure_secret

LOCAL_RAY_ENVIRONMENT = {
    # Every Ray port (GCS, raylets, workers, agents) listens beyond loopback in Ray 2.60
    # whatever the node address, so the cluster requires Ray's token on every call.
    "RAY_AUTH_MODE": "token",
    "RAY_USAGE_STATS_ENABLED": "0",
    "HF_HUB_OFFLINE": "1",
}


def serve_options(config: DeploymentConfig) -> dict[str, Any]:
    """Keyword arguments for `Deployment.options(...)`."""
    actor: dict[str, Any] = {"num_cpus": config.num_cpus, "num_gpus": config.num_gpus}
    if config.resources:
        actor["resources"] = dict(config.resources)
    options: dict[str, Any] = {
        "max_ongoing_requests": config.max_ongoing_requests,
        "max_queued_requests": config.max_queued_requests,
        "graceful_shutdown_timeout_s": config.graceful_shutdown_timeout_s,
        "ray_actor_options": actor,
    }
    if config.autoscaling is not None:
        options["autoscaling_config"] = config.autoscaling.to_serve()
        if config.autoscaling.target_engine_waiting is not None:
            options["autoscaling_config"]["policy"] = {
                "policy_function": POLICY_PATH,
                "policy_kwargs": {
                    "target_ongoing_requests": config.autoscaling.target_ongoing_requests,
                    "target_engine_waiting": config.autoscaling.target_engine_waiting,
                },
            }
    else:
        options["num_replicas"] = config.num_replicas
    return options


def decoder_options(deployment: DeploymentConfig, routing: DecoderRouting) -> dict[str, Any]:
    """serve_options of a decoder set, with its request router."""
    options = serve_options(deployment)
    if routing.policy == "prefix_affinity":
        options["request_router_config"] = {
            "request_router_class": ROUTER_PATH,
            "request_router_kwargs": {"max_imbalance": routing.max_imbalance},
        }
    return options


def ray_environment() -> dict[str, str]:
    """Environment for a local Ray cluster started by Ponder (set values win). The Ray
    token is created on first use (.state/auth/ray-token, mode 0600)."""
    wanted = dict(LOCAL_RAY_ENVIRONMENT)
    if "RAY_AUTH_TOKEN" not in os.environ:
        ensure_secret(env.ray_token_file())
        wanted["RAY_AUTH_TOKEN_PATH"] = str(env.ray_token_file())
    return env.with_overrides(wanted)


def use_ray_environment() -> None:
    """Put ray_environment() into this process's environment, where the Ray processes it
    starts inherit it, and make an already imported Ray re-read its auth mode."""
    os.environ.update(ray_environment())
    from ray._raylet import Config  # type: ignore[attr-defined]  # caches RAY_AUTH_MODE

    Config.initialize("")


def deployments_of(config: PonderConfig) -> list[DeploymentConfig]:
    """Every deployment the app builder may create for this config."""
    deployments = [config.decoder.deployment, config.planner.deployment]
    deployments.append(config.ingress.deployment)
    if config.student.enabled:
        deployments.append(config.student.deployment)
    if config.encoder.enabled:
        deployments.append(config.encoder.deployment)
    if config.planner.learning.enabled:
        deployments.append(config.planner.learning.deployment)
    return deployments


def local_cpus(apps: Iterable[PonderConfig]) -> int:
    """Logical CPUs of a local cluster: the machine's cores, or what the deployments
    reserve at their largest scale when that is more (on one machine the engines share
    the cores anyway; a reservation Ray cannot meet would leave replicas unscheduled)."""
    reserved = 0.0
    for config in apps:
        for deployment in deployments_of(config):
            replicas = (
                deployment.autoscaling.max_replicas
                if deployment.autoscaling is not None
                else deployment.num_replicas or 1
            )
            reserved += deployment.num_cpus * replicas
    return max(os.cpu_count() or 1, math.ceil(reserved))
