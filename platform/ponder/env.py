"""Every environment variable Ponder reads, in one place.

Paths default to folders under the repository's state directory (`.state/`), so a
checkout is self-contained: model weights, caches, Ray's temp dir and Redis data.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent  # ponder/, where packaged weights live


def state_dir() -> Path:
    """Where Ponder keeps models, caches and runtime state (PONDER_STATE_DIR)."""
    return Path(os.environ.get("PONDER_STATE_DIR", REPO_ROOT / ".state")).resolve()


def default_model_dir() -> Path:
    """The converted default model (PONDER_MODEL_DIR)."""
    default = state_dir() / "models" / "smollm2-135m-instruct"
    return Path(os.environ.get("PONDER_MODEL_DIR", default)).resolve()


def data_dir() -> Path:
    """Training/development data (PONDER_DATA_DIR); defaults to ../shared/data."""
    return Path(os.environ.get("PONDER_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()


def ray_temp_dir() -> Path:
    """Ray's session/temp folder (PONDER_RAY_TEMP_DIR); kept short for Unix socket paths,
    one per user (made private by `local_credentials.private_run_dir`)."""
    default = f"/tmp/ponder-ray-{os.getuid()}"
    return Path(os.environ.get("PONDER_RAY_TEMP_DIR", default)).resolve()


def engine_environment(
    cpu_kvcache_gib: float, cpu_threads_bind: str, cpu_shared_gloo_device: bool = True
) -> dict[str, str]:
    """Environment the vLLM engine needs on this kind of machine.

    Values already set in the environment win, so an operator can override any of them.
    """
    cache = state_dir() / "cache"
    wanted = {
        "VLLM_CPU_KVCACHE_SPACE": f"{cpu_kvcache_gib:g}",
        "VLLM_CPU_OMP_THREADS_BIND": cpu_threads_bind,
        "PONDER_GLOO_SHARED_DEVICE": "1" if cpu_shared_gloo_device else "0",
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "torchinductor"),
        "VLLM_USE_AOT_COMPILE": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    return {key: os.environ.get(key, value) for key, value in wanted.items()}


def gloo_shared_device() -> bool:
    """Whether Ponder's vLLM plugin gives every gloo group of a vLLM process one shared
    device (PONDER_GLOO_SHARED_DEVICE, '1' unless set to '0'; the engine sets it from
    `engine.cpu_shared_gloo_device`)."""
    return os.environ.get("PONDER_GLOO_SHARED_DEVICE", "1") != "0"


def grpc_message_environment(max_message_bytes: int) -> dict[str, str]:
    """Environment that sizes Serve's gRPC servers (the proxy's and each replica's) to
    `max_message_bytes`; Serve reads it when its processes start."""
    size = str(max_message_bytes)
    return {
        "RAY_SERVE_GRPC_MAX_MESSAGE_SIZE": size,
        "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": size,
    }


def with_overrides(wanted: dict[str, str]) -> dict[str, str]:
    """`wanted`, with any of its variables already set in the environment winning (so an
    operator can override what a start-up sets)."""
    return {key: os.environ.get(key, value) for key, value in wanted.items()}


def tracing_exporter() -> str:
    """Span exporter of a traced process (PONDER_TRACING_EXPORTER): otlp, console or file.
    The OTLP exporter reads the standard OTEL_EXPORTER_OTLP_ENDPOINT itself."""
    return os.environ.get("PONDER_TRACING_EXPORTER", "otlp")


def tracing_dir() -> Path:
    """Folder of the `file` span exporter (PONDER_TRACING_DIR)."""
    return Path(os.environ.get("PONDER_TRACING_DIR", state_dir() / "traces")).resolve()


TRACING_VARIABLES = (
    "RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH",
    "RAY_SERVE_TRACING_SAMPLING_RATIO",
    "PONDER_TRACING_EXPORTER",
    "PONDER_TRACING_DIR",
)


def tracing_environment(
    exporter: str, sampling_ratio: float, folder: str, otlp: str
) -> dict[str, str]:
    """What a Ray start needs in its environment for Serve to trace every process with
    Ponder's exporters (Serve reads these only when the cluster starts)."""
    if exporter == "off":
        return {}
    values = {
        "RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH": "ponder.telemetry.tracing:span_processors",
        "RAY_SERVE_TRACING_SAMPLING_RATIO": f"{sampling_ratio:g}",
        "PONDER_TRACING_EXPORTER": exporter,
    }
    if folder:
        values["PONDER_TRACING_DIR"] = folder
    if otlp:
        values["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
    return values


def local_redis_url_file() -> Path:
    """Where `ponder serve` records the URL of the Redis it started."""
    return state_dir() / "redis" / "url"


def drain_file() -> Path:
    """While this file exists, the Ingress replicas of this node drain (PONDER_DRAIN_FILE;
    Kubernetes' preStop hook creates it)."""
    return Path(os.environ.get("PONDER_DRAIN_FILE", state_dir() / "run" / "draining"))


def run_record_file() -> Path:
    """What a running `ponder serve` started (pids, ports), for cleaning up after a crash."""
    return state_dir() / "run" / "serve.json"


def redis_url() -> str:
    """Redis for `ponder scorer` commands (PONDER_REDIS_URL); else the local platform's."""
    url = os.environ.get("PONDER_REDIS_URL", "")
    if not url and local_redis_url_file().is_file():
        url = local_redis_url_file().read_text().strip()
    return url


def redis_server_binary() -> str:
    """The redis-server executable (PONDER_REDIS_SERVER)."""
    return os.environ.get("PONDER_REDIS_SERVER", "redis-server")


def auth_dir() -> Path:
    """Credentials a local run creates: API token file, client token, Ray token (0700)."""
    return state_dir() / "auth"


def api_tokens_file() -> Path:
    """The default API token file (hashes only)."""
    return auth_dir() / "tokens.yaml"


def ray_token_file() -> Path:
    """The Ray cluster token of local runs (RAY_AUTH_TOKEN_PATH points here)."""
    return auth_dir() / "ray-token"


def client_token_file(tokens_file: Path | None = None) -> Path:
    """Where a local start leaves the value of the token it created (beside the file)."""
    return (tokens_file or api_tokens_file()).parent / "client-token"


def api_token() -> str:
    """The bearer token clients send (PONDER_API_TOKEN; else the local client token)."""
    token = os.environ.get("PONDER_API_TOKEN", "").strip()
    if not token and client_token_file().is_file():
        token = client_token_file().read_text().strip()
    return token


# The Redis password of `ponder scorer --redis-url` (the deployed config names its own).
REDIS_PASSWORD_ENV = "PONDER_REDIS_PASSWORD"


def secret(name: str) -> str:
    """A secret from the environment variable a config names (e.g. a Redis password)."""
    return os.environ.get(name, "")
