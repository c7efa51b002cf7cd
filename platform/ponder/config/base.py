"""What every config model shares: strict, frozen models and a deployment's Serve settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Base of every config model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AutoscalingConfig(StrictModel):
    """Ray Serve autoscaling of one deployment."""

    min_replicas: int = Field(1, ge=0, description="Fewest replicas kept running.")
    max_replicas: int = Field(1, ge=1, description="Most replicas started under load.")
    target_ongoing_requests: float = Field(
        32, gt=0, description="Ongoing requests per replica that autoscaling aims for."
    )
    upscale_delay_s: float = Field(
        5, ge=0, description="Load must stay high this long before scaling up."
    )
    downscale_delay_s: float = Field(
        60, ge=0, description="Load must stay low this long before scaling down."
    )
    look_back_period_s: float = Field(
        30, gt=0, description="Window over which ongoing requests are averaged."
    )
    target_engine_waiting: float | None = Field(
        None,
        gt=0,
        description="Decoder sets only: requests waiting in each replica's engine queue "
        "(vLLM's scheduler; needs engine.engine_metrics) that autoscaling aims for beside "
        "target_ongoing_requests. More scale the set up even when the ongoing count is on "
        "target (long prompts, a full KV cache). Null: ongoing requests only.",
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self

    def to_serve(self) -> dict[str, Any]:
        """The dict Ray Serve's autoscaling_config takes (its policy is chosen where Ray's
        options are made: deployments/ray_options.py)."""
        return self.model_dump(exclude={"target_engine_waiting"})


class DeploymentConfig(StrictModel):
    """How one Ray Serve deployment is scheduled and scaled."""

    num_replicas: int | None = Field(
        1, ge=1, description="Fixed replica count; must be null when autoscaling is set."
    )
    autoscaling: AutoscalingConfig | None = Field(
        None, description="Autoscaling bounds; replaces num_replicas when set."
    )
    max_ongoing_requests: int = Field(
        64,
        ge=1,
        description="Requests one replica accepts at once; more queue in the router. "
        "Continuous batching wants this at least the concurrency you expect.",
    )
    max_queued_requests: int = Field(
        -1,
        ge=-1,
        description="Requests that may wait for a replica of this deployment (per caller's "
        "router) beyond max_ongoing_requests; past it the caller gets RESOURCE_EXHAUSTED at "
        "once with a retry hint. -1: unlimited (Ray's default), which queues without bound.",
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs reserved per replica (fractions ok).")
    num_gpus: float = Field(0.0, ge=0, description="GPUs reserved per replica (fractions ok).")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources per replica, e.g. {ponder_cpu_node: 0.01} to keep "
        "a deployment on the CPU worker group of a Kubernetes cluster.",
    )
    graceful_shutdown_timeout_s: float = Field(
        20.0, ge=0, description="How long a stopping replica may finish its requests."
    )

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> DeploymentConfig:
        if self.autoscaling is not None and self.num_replicas is not None:
            raise ValueError("set num_replicas to null when autoscaling is configured")
        if self.autoscaling is None and self.num_replicas is None:
            raise ValueError("set num_replicas or autoscaling")
        return self
