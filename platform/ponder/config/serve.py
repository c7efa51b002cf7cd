"""The application as a whole: ingress limits, telemetry and the PonderConfig that the Serve
config YAML carries as the application's `args`, validated before any deployment starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from ponder.config.base import DeploymentConfig, StrictModel
from ponder.config.encoder import EncoderConfig
from ponder.config.engine import DecoderConfig, StudentConfig
from ponder.config.planner import PlannerConfig
from ponder.config.security import AuthConfig, RedisConfig


class RequestLimits(StrictModel):
    """Limits the ingress enforces on every request."""

    max_stop_strings: int = Field(16, ge=0, description="Most stop strings per request.")
    max_stop_chars: int = Field(
        256,
        ge=1,
        description="Longest stop string, in characters (vLLM matches each one "
        "against the tail of the output after every token).",
    )
    max_prompt_chars: int = Field(
        200_000, ge=1, description="Longest prompt or conversation, in characters."
    )
    max_messages: int = Field(256, ge=1, description="Most chat messages per request.")


class QueueWaitConfig(StrictModel):
    """Admission by expected queue wait (ponder/queue_wait.py): each ingress replica
    refuses a call at once, with RESOURCE_EXHAUSTED and retry-after-ms, when the decoder
    work it has admitted would keep the call waiting past the caller's deadline or
    max_wait_s."""

    enabled: bool = Field(True, description="Refuse calls whose expected wait is too long.")
    max_wait_s: float | None = Field(
        60.0,
        gt=0,
        description="Longest expected wait a call is admitted with; null: only callers' "
        "deadlines bound it.",
    )
    min_tokens_per_s: float = Field(
        200.0,
        gt=0,
        description="Decoder tokens per second one ingress replica assumes its admitted "
        "calls finish at, at least: its start value before it has measured the rate, and a "
        "floor under the measured one (measured while a few calls run, the rate is how fast "
        "those went, not how fast a batch of many would). Set it to the decoder sets' "
        "throughput under load divided by the ingress replicas.",
    )
    window_s: float = Field(
        60.0,
        gt=0,
        description="Time constant of the measured finishing rate (older seconds weigh "
        "less); it replaces min_tokens_per_s, when higher, after a quarter of it busy. "
        "Calls finish in waves (a batch of similar calls ends together), so it must span "
        "several waves: "
        "at 10 s, a burst of 1 024 right after one of 256 admitted calls that took 90 s "
        "against a 60 s bound (bench/burst.py).",
    )


class IngressConfig(StrictModel):
    """The gRPC ingress deployment."""

    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.1, max_ongoing_requests=512),
        description="Scheduling and scaling of ingress replicas.",
    )
    limits: RequestLimits = Field(default_factory=RequestLimits, description="Request limits.")
    queue_wait: QueueWaitConfig = Field(
        default_factory=QueueWaitConfig, description="Admission by expected queue wait."
    )
    health_timeout_s: float = Field(
        2.0, gt=0, description="How long a health check waits for the decoder to answer."
    )
    health_cache_s: float = Field(
        1.0,
        ge=0,
        description="How long a decoder's health answer is reused: every health check in "
        "that time gets it without another decoder call (health needs no token).",
    )
    http_enabled: bool = Field(
        True,
        description="Serve the HTTP/JSON API (OpenAI-compatible + Ponder's endpoints) beside "
        "gRPC on Serve's HTTP proxy (host and port: the Serve config's http_options, "
        "loopback locally); off: every HTTP route answers 404.",
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest gRPC message the proxy (and a replica's own gRPC server) "
        "accepts; larger ones are refused with RESOURCE_EXHAUSTED before they are read. "
        "Must hold the largest image plus its text and table (RAY_SERVE_GRPC_MAX_MESSAGE_SIZE "
        "on the cluster's processes; set when the cluster starts).",
    )
    drain_grace_s: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM/SIGINT: how long calls in flight may finish (health already "
        "NOT_SERVING, new calls refused) before they are cancelled and everything stops. "
        "Keep Kubernetes' terminationGracePeriodSeconds above it.",
    )


class TracingConfig(StrictModel):
    """OpenTelemetry traces: Serve's spans of every hop plus Ponder's own (plan, branches,
    decoder calls, scoring, Redis). Applied when the local runner starts the Ray cluster;
    on Kubernetes the same settings are the ponder-telemetry ConfigMap."""

    exporter: Literal["off", "otlp", "console", "file"] = Field(
        "off", description="Where spans go: an OTLP collector, stdout, JSON-lines files, or off."
    )
    otlp_endpoint: str = Field(
        "", description="OTLP/gRPC collector URL, e.g. http://localhost:4317 (exporter otlp)."
    )
    sampling_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of new traces recorded; a caller's sampled traceparent is honoured.",
    )
    file_dir: str = Field(
        "", description="Folder of the file exporter; empty means <state dir>/traces."
    )


class TelemetryConfig(StrictModel):
    """Traces, metrics and logs."""

    tracing: TracingConfig = Field(default_factory=TracingConfig, description="Tracing.")
    metrics_export_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of the Prometheus endpoint of a locally started Ray node; 0 picks "
        "a free one (printed at start), so two runs or a stale process never collide. "
        "Kubernetes variants set the node's fixed metrics-export-port.",
    )


class PonderConfig(StrictModel):
    """Everything the application builder needs."""

    decoder: DecoderConfig = Field(default_factory=DecoderConfig, description="Decoder set.")
    student: StudentConfig = Field(
        default_factory=StudentConfig, description="The distilled student's decoder set."
    )
    ingress: IngressConfig = Field(default_factory=IngressConfig, description="gRPC ingress.")
    auth: AuthConfig = Field(
        default_factory=AuthConfig, description="Caller authentication and rate limits."
    )
    planner: PlannerConfig = Field(default_factory=PlannerConfig, description="Reasoning planner.")
    redis: RedisConfig = Field(
        default_factory=RedisConfig,
        description="Redis of the score cache, outcome log and scorer versions.",
    )
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig, description="Traces and metrics."
    )
    encoder: EncoderConfig = Field(
        default_factory=EncoderConfig, description="Image/table encoder pool."
    )

    @model_validator(mode="after")
    def _planner_adapter_is_served(self) -> PonderConfig:
        adapter = self.planner.adapter
        if adapter and adapter not in self.decoder.engine.lora_adapters:
            raise ValueError(
                f"planner.adapter {adapter!r} is not in decoder.engine.lora_adapters "
                f"({', '.join(sorted(self.decoder.engine.lora_adapters)) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _planner_model_is_served(self) -> PonderConfig:
        model = self.planner.model
        if model and model != "base":
            if not (self.student.enabled and model == self.student.name):
                raise ValueError(
                    f"planner.model {model!r} is not a served student "
                    f"(student.name: {self.student.name or 'none'}, "
                    f"enabled: {self.student.enabled})"
                )
            if self.planner.adapter:
                raise ValueError(
                    "planner.adapter must be empty when planner.model is the student "
                    "(the student serves no adapters)"
                )
        return self

    @model_validator(mode="after")
    def _refresh_adapters_have_a_registry(self) -> PonderConfig:
        has_redis = bool(self.redis.url) or self.redis.start_local
        learning = self.planner.learning
        if self.student.engine.refresh_adapters and not (
            has_redis and learning.enabled and learning.ranker_learning
        ):
            raise ValueError(
                "student.engine.refresh_adapters needs Redis (redis.url or start_local), "
                "planner.learning.enabled and planner.learning.ranker_learning (refreshes "
                "learn from the outcome examples the learner keeps for the ranker, and are "
                "kept in the model registry)"
            )
        if self.decoder.engine.refresh_adapters:
            raise ValueError(
                "decoder.engine.refresh_adapters: refreshes adapt the student, which Reason's "
                "branches run on; set student.engine.refresh_adapters"
            )
        return self

    @model_validator(mode="after")
    def _engine_queue_scaling_is_for_decoders(self) -> PonderConfig:
        others = {
            "planner": self.planner.deployment,
            "ingress": self.ingress.deployment,
            "encoder": self.encoder.deployment,
            "planner.learning": self.planner.learning.deployment,
        }
        for section, deployment in others.items():
            if deployment.autoscaling and deployment.autoscaling.target_engine_waiting:
                raise ValueError(
                    f"{section}.deployment.autoscaling.target_engine_waiting: only decoder "
                    "sets have an engine queue"
                )
        for section, decoders in (("decoder", self.decoder), ("student", self.student)):
            scaling = decoders.deployment.autoscaling
            if scaling and scaling.target_engine_waiting and not decoders.engine.engine_metrics:
                raise ValueError(
                    f"{section}.deployment.autoscaling.target_engine_waiting needs "
                    f"{section}.engine.engine_metrics: true (the queue is read from them)"
                )
        return self

    @model_validator(mode="after")
    def _encoders_need_prompt_embeds(self) -> PonderConfig:
        engines = [("decoder", self.decoder.engine)]
        if self.student.enabled:
            engines.append(("student", self.student.engine))
        for section, engine in engines:
            if self.encoder.enabled and not engine.enable_prompt_embeds:
                raise ValueError(
                    f"encoder.enabled needs {section}.engine.enable_prompt_embeds: true "
                    "(fused prompts reach vLLM as prompt embeddings)"
                )
        return self

    @model_validator(mode="after")
    def _messages_hold_the_largest_input(self) -> PonderConfig:
        needed = self.encoder.max_image_bytes + self.encoder.max_text_chars * 4
        if self.encoder.enabled and self.ingress.max_message_bytes < needed:
            raise ValueError(
                f"ingress.max_message_bytes ({self.ingress.max_message_bytes}) cannot hold "
                f"an Analyze request of encoder.max_image_bytes + max_text_chars ({needed})"
            )
        return self


def load_yaml(path: Path) -> Any:
    """Read a YAML file, failing clearly on an empty one."""
    data = yaml.safe_load(path.read_text())
    if data is None:
        raise ValueError(f"{path} is empty")
    return data


def load_ponder_config(path: Path) -> PonderConfig:
    """Load a bare PonderConfig from a YAML file."""
    return PonderConfig.model_validate(load_yaml(path))
