"""Ponder's configuration: frozen, strict pydantic models, loadable from YAML, one module
per subsystem (base, engine, planner, learning, encoder, security, serve).

The Serve config YAML (config/serve-*.yaml) carries a PonderConfig as the `args` of the
application; the app builder validates it before any deployment starts.
"""

from ponder.config.base import AutoscalingConfig, DeploymentConfig, StrictModel
from ponder.config.encoder import EncoderConfig
from ponder.config.engine import (
    ENGINE_QUEUE_FACTOR,
    DecoderConfig,
    EngineConfig,
    StudentConfig,
    check_engine_admission,
)
from ponder.config.learning import LearningConfig
from ponder.config.planner import PlannerConfig, ScoreCacheConfig, StepTokensConfig
from ponder.config.security import AuthConfig, RedisConfig
from ponder.config.serve import (
    IngressConfig,
    PonderConfig,
    RequestLimits,
    TelemetryConfig,
    TracingConfig,
    load_ponder_config,
    load_yaml,
)

__all__ = [
    "ENGINE_QUEUE_FACTOR",
    "AuthConfig",
    "AutoscalingConfig",
    "DecoderConfig",
    "DeploymentConfig",
    "EncoderConfig",
    "EngineConfig",
    "IngressConfig",
    "LearningConfig",
    "PlannerConfig",
    "PonderConfig",
    "RedisConfig",
    "RequestLimits",
    "ScoreCacheConfig",
    "StepTokensConfig",
    "StrictModel",
    "StudentConfig",
    "TelemetryConfig",
    "TracingConfig",
    "check_engine_admission",
    "load_ponder_config",
    "load_yaml",
]
