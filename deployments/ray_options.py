"""What Ray needs from Ponder's config: Serve deployment options and the environment of a
local cluster. The core's config stays free of Ray's vocabulary; this is the one place
that translates it."""

from __future__ import annotations

from typing import Any

from ponder import env
from ponder.config import DeploymentConfig

LOCAL_RAY_ENVIRONMENT = {
    "RAY_AUTH_MODE": "disabled",
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
        "graceful_shutdown_timeout_s": config.graceful_shutdown_timeout_s,
        "ray_actor_options": actor,
    }
    if config.autoscaling is not None:
        options["autoscaling_config"] = config.autoscaling.to_serve()
    else:
        options["num_replicas"] = config.num_replicas
    return options


def ray_environment() -> dict[str, str]:
    """Environment for a local Ray cluster started by Ponder (set values win)."""
    return env.with_overrides(LOCAL_RAY_ENVIRONMENT)
