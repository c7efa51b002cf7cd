"""Ponder's configuration: frozen, strict pydantic models, loadable from YAML.

The Serve config YAML (config/serve-*.yaml) carries a PonderConfig as the `args` of the
application; the app builder validates it before any deployment starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ponder import env
from ponder.security.tokens import RateLimit


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

    @model_validator(mode="after")
    def _min_not_above_max(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self

    def to_serve(self) -> dict[str, Any]:
        """The dict Ray Serve's autoscaling_config takes."""
        return self.model_dump()


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


class EngineConfig(StrictModel):
    """Arguments of the vLLM engine each decoder replica creates."""

    model: str = Field(
        "",
        description="Folder of the HF model (safetensors + tokenizer); empty means the "
        "converted default model under the state dir (PONDER_MODEL_DIR).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "float32",
        description="Weight/activation dtype. float32 keeps greedy answers equal to HF's "
        "on CPU (bf16 + torch.compile flips near-tied tokens).",
    )
    max_model_len: int = Field(4096, ge=64, description="Context length (prompt + output).")
    max_num_seqs: int = Field(64, ge=1, description="Most sequences batched in one step.")
    max_prompt_tokens: int | None = Field(
        None,
        ge=1,
        description="Longest prompt accepted, in tokens; longer ones get INVALID_ARGUMENT "
        "before they reach the engine's queue. Below max_model_len; unset means "
        "max_model_len - 1.",
    )
    max_num_batched_tokens: int = Field(
        256,
        ge=1,
        description="Tokens one engine step computes at most (prefill chunks + decodes): "
        "long prompts are prefilled in chunks of at most this size (chunked prefill).",
    )
    long_prefill_token_threshold: int = Field(
        32,
        ge=0,
        description="While other requests are running, a prompt longer than this is "
        "prefilled at most this many tokens per step, so it cannot stall short requests "
        "(0 = no cap; see RELIABILITY.md for the measured trade-off).",
    )
    enforce_eager: bool = Field(
        False, description="Skip torch.compile/graphs: faster start, slower decode."
    )
    enable_prefix_caching: bool = Field(True, description="Reuse KV of shared prompt prefixes.")
    enable_prompt_embeds: bool = Field(
        False, description="Accept prompt embeddings (fused multimodal prompts)."
    )
    lora_adapters: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA adapters callers may name: name -> peft folder; a relative path "
        "is inside the ponder package, where trained adapters ship (adapters/math-1234abcd).",
    )
    max_lora_rank: int = Field(
        16, ge=1, description="Largest LoRA rank accepted (vLLM: 1, 8, 16, 32, 64, ...)."
    )
    max_loras: int = Field(2, ge=1, description="LoRA adapters active in one batch.")
    max_logprobs: int = Field(20, ge=0, description="Most top log-probs a request may ask for.")
    default_max_tokens: int = Field(
        256, ge=1, description="max_tokens when a request leaves it unset."
    )
    seed: int = Field(0, description="Engine seed (requests without a seed still vary).")
    stream_interval: int = Field(
        1,
        ge=1,
        description="Tokens per streamed message after the first (which is sent at once). "
        "Larger values mean fewer messages through every hop under load.",
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="GPU backend only: share of GPU memory vLLM may use."
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs one engine shards the model over (set num_gpus to match)."
    )
    cpu_kvcache_gib: float = Field(
        1.0, gt=0, description="CPU backend only: KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE)."
    )
    cpu_nice: int = Field(
        5,
        ge=0,
        le=19,
        description="CPU backend only: niceness of the engine's processes. vLLM's threads "
        "keep every core busy under load; a lower priority lets the proxy, ingress and "
        "planner (little work, but latency-critical: admission, rejection, routing) run "
        "first. 0 = same priority.",
    )
    cpu_threads_bind: str = Field(
        "all",
        description="CPU backend only: cores the engine's OpenMP threads bind to "
        "(VLLM_CPU_OMP_THREADS_BIND), e.g. '0-1'; 'all' means every core of the machine.",
    )

    @model_validator(mode="after")
    def _check_scheduler_limits(self) -> EngineConfig:
        if self.max_prompt_tokens is not None and self.max_prompt_tokens >= self.max_model_len:
            raise ValueError(
                f"max_prompt_tokens ({self.max_prompt_tokens}) must be below max_model_len "
                f"({self.max_model_len})"
            )
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least "
                f"max_num_seqs ({self.max_num_seqs}): every running sequence needs a token "
                "per step"
            )
        if self.long_prefill_token_threshold > self.max_num_batched_tokens:
            raise ValueError(
                f"long_prefill_token_threshold ({self.long_prefill_token_threshold}) exceeds "
                f"max_num_batched_tokens ({self.max_num_batched_tokens})"
            )
        return self

    def prompt_token_cap(self) -> int:
        """The longest prompt accepted, in tokens."""
        return self.max_prompt_tokens or self.max_model_len - 1

    def model_path(self) -> Path:
        """The model folder this config points at."""
        return Path(self.model).resolve() if self.model else env.default_model_dir()

    def adapter_dirs(self) -> dict[str, Path]:
        """Each adapter's folder; relative paths are inside the ponder package."""
        return {
            name: path if path.is_absolute() else (env.PACKAGE_DIR / path).resolve()
            for name, path in ((n, Path(p)) for n, p in self.lora_adapters.items())
        }


ENGINE_QUEUE_FACTOR = 4


def check_engine_admission(
    section: str, engine: EngineConfig, deployment: DeploymentConfig
) -> None:
    """A decoder replica admits max_ongoing_requests; vLLM runs max_num_seqs of them and
    queues the rest in its own unbounded queue. Keep that queue short (a few batches) so
    waiting happens in Serve's bounded queue, which refuses overflow at once."""
    most = ENGINE_QUEUE_FACTOR * engine.max_num_seqs
    if deployment.max_ongoing_requests > most:
        raise ValueError(
            f"{section}.deployment.max_ongoing_requests ({deployment.max_ongoing_requests}) "
            f"exceeds {ENGINE_QUEUE_FACTOR} x engine.max_num_seqs ({most}): the excess would "
            "wait in vLLM's unbounded queue instead of Serve's bounded one"
        )


class DecoderConfig(StrictModel):
    """The decoder replica set."""

    engine: EngineConfig = Field(default_factory=EngineConfig, description="vLLM engine args.")
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=1.0, max_ongoing_requests=128),
        description="Scheduling and scaling of decoder replicas.",
    )

    @model_validator(mode="after")
    def _admission_fits_the_engine(self) -> DecoderConfig:
        check_engine_admission("decoder", self.engine, self.deployment)
        return self


class StudentConfig(StrictModel):
    """The distilled student's own decoder replica set (requests choose it with `model`)."""

    enabled: bool = Field(False, description="Serve the student beside the main decoder.")
    name: str = Field(
        "",
        pattern=r"^$|^[a-z][a-z0-9-]{0,40}$",
        description="The student's versioned name: its committed parts are "
        "ponder/students/<name>, its weights .state/models/<name> (built by setup).",
    )
    engine: EngineConfig = Field(
        default_factory=EngineConfig,
        description="vLLM engine args of the student's replicas; `model` empty means the "
        "student's derived folder. No LoRA adapters.",
    )
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=1.0, max_ongoing_requests=128),
        description="Scheduling and scaling of student replicas.",
    )

    @model_validator(mode="after")
    def _complete(self) -> StudentConfig:
        if self.enabled and not self.name:
            raise ValueError("student.enabled needs student.name")
        if self.engine.lora_adapters:
            raise ValueError("student.engine.lora_adapters: the student serves no adapters")
        check_engine_admission("student", self.engine, self.deployment)
        return self

    def engine_config(self) -> EngineConfig:
        """The engine args with `model` pointing at the derived student folder."""
        if self.engine.model:
            return self.engine
        folder = env.state_dir() / "models" / self.name
        return self.engine.model_copy(update={"model": str(folder)})


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


class IngressConfig(StrictModel):
    """The gRPC ingress deployment."""

    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.1, max_ongoing_requests=512),
        description="Scheduling and scaling of ingress replicas.",
    )
    limits: RequestLimits = Field(default_factory=RequestLimits, description="Request limits.")
    health_timeout_s: float = Field(
        2.0, gt=0, description="How long a health check waits for the decoder to answer."
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


class AuthConfig(StrictModel):
    """Caller authentication of the front doors (bearer tokens from a token file)."""

    enabled: bool = Field(
        True,
        description="Require 'authorization: Bearer <token>' on every PonderService RPC "
        "(grpc.health.v1 and reflection stay open). Off: every caller is anonymous and "
        "shares one scorer.",
    )
    token_file: str = Field(
        "",
        description="YAML token file (hashes, tenants, rights, rate limits; see "
        "ponder.security.tokens). Empty: .state/auth/tokens.yaml, which a local start "
        "creates with one token for tenant 'local'. In Kubernetes: a Secret mounted as a "
        "volume (updates reach the pod without a restart).",
    )
    reload_interval_s: float = Field(
        2.0, gt=0, description="How often the token file is checked for changes (rotation)."
    )
    create_local_token: bool = Field(
        True,
        description="A local start (`ponder serve`, tests, benches) creates the token file "
        "when it is missing, with one all-RPC token for tenant 'local' whose value goes to "
        "client-token beside it (mode 0600), where the CLI and PonderClient find it.",
    )
    default_rate_limit: RateLimit | None = Field(
        default_factory=lambda: RateLimit(requests_per_s=50, burst=100),
        description="Rate limit of a tenant the token file gives none; null: unlimited.",
    )

    def token_path(self) -> Path:
        """The token file this config names."""
        return Path(self.token_file) if self.token_file else env.api_tokens_file()


class RedisConfig(StrictModel):
    """The Redis that holds the score cache, the outcome log and the scorer versions."""

    url: str = Field(
        "",
        description="redis:// URL; empty means the local runner starts a loopback "
        "redis-server (when start_local) or, with start_local off, Redis-backed features "
        "are off.",
    )
    start_local: bool = Field(
        True, description="Start a loopback redis-server (AOF on) when no url is given."
    )
    appendfsync: Literal["always", "everysec"] = Field(
        "everysec",
        description="AOF fsync policy of a locally started redis-server. Either survives a "
        "Redis or platform restart; 'always' also survives a machine crash, at a write cost.",
    )
    password_env: str = Field(
        "",
        description="Environment variable holding the Redis password (e.g. from a "
        "Kubernetes Secret); empty means no AUTH.",
    )
    timeout_s: float = Field(0.5, gt=0, description="Socket timeout of Redis calls, seconds.")

    def connection_url(self) -> str:
        """The URL with the password from password_env filled in."""
        password = env.secret(self.password_env) if self.password_env else ""
        if not password or not self.url:
            return self.url
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://:{quote(password, safe='')}@{rest.split('@')[-1]}"


class ScoreCacheConfig(StrictModel):
    """Redis cache of path scores."""

    enabled: bool = Field(True, description="Cache path scores in Redis (when one is set).")
    ttl_s: int = Field(3600, ge=1, description="Lifetime of a cached score, in seconds.")


class LearningConfig(StrictModel):
    """Online path-scorer learning from reported outcomes."""

    enabled: bool = Field(
        True, description="Log reasonings, accept ReportOutcome and run the learner."
    )
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.1, max_ongoing_requests=16),
        description="The learner deployment; keep one replica (it owns the consumer group).",
    )
    retention_s: int = Field(
        7 * 24 * 3600,
        ge=60,
        description="How long a reasoning stays reportable (and its log entry kept), seconds.",
    )
    per_tenant: bool = Field(
        False,
        description="Train one scorer per tenant (the tenant of the caller's token, so "
        "only tenants the token file declares); otherwise all outcomes train one shared "
        "scorer.",
    )
    batch_size: int = Field(
        64, ge=1, description="Most outcomes the learner applies in one step (one checkpoint)."
    )
    learning_rate: float = Field(0.05, gt=0, description="SGD step size of online updates.")
    max_entry_failures: int = Field(
        5,
        ge=1,
        description="An outcome the learner failed to apply this many times (a malformed "
        "entry) moves to the dead-letter stream instead of blocking the log forever.",
    )
    stall_timeout_s: float = Field(
        300.0,
        gt=0,
        description="The learner's health check fails when outcomes wait and none was "
        "applied for this long (Serve then restarts it and reports it unhealthy).",
    )
    l2: float = Field(1e-3, ge=0, description="L2 penalty of online updates.")
    max_step: float = Field(
        0.5, gt=0, description="Cap on the L2 norm of one update of the weights (guard rail)."
    )
    propose_every: int = Field(50, ge=1, description="Outcomes applied between candidate versions.")
    min_outcomes: int = Field(
        100, ge=1, description="Outcomes applied before the first candidate is proposed."
    )
    holdout_every: int = Field(
        5,
        ge=2,
        description="Every k-th outcome (in log order) is held back from training and used "
        "to compare candidate and active versions.",
    )
    holdout_window: int = Field(
        500, ge=1, description="Most recent held-back outcomes the gate evaluates on."
    )
    min_holdout_examples: int = Field(
        20,
        ge=1,
        description="Held-back labelled path rows (one per step of a labelled path) needed "
        "before the gate decides; fewer defers the decision.",
    )
    gate_metric: Literal["log_loss", "accuracy"] = Field(
        "log_loss", description="Metric the promotion gate compares on held-back outcomes."
    )
    gate_margin: float = Field(
        0.0,
        ge=0,
        description="A candidate is promoted when its metric is no worse than the active "
        "version's by more than this margin.",
    )
    reload_interval_s: float = Field(
        1.0, gt=0, description="How often planners check for a newly promoted version."
    )
    poll_block_ms: int = Field(
        1000, ge=1, description="How long the learner blocks waiting for new outcomes."
    )


class StepTokensConfig(StrictModel):
    """Most tokens of each kind of decoder call a branch makes."""

    direct: int = Field(12, ge=1, description="Direct answer node (a number).")
    cot: int = Field(160, ge=1, description="Chain-of-thought compute node (worked text).")
    expression: int = Field(40, ge=1, description="Program-of-thought expression node.")
    steps: int = Field(72, ge=1, description="Decompose node (up to three `a op b = c` lines).")
    verify: int = Field(1, ge=1, description="Verify node (yes or no).")


class PlannerConfig(StrictModel):
    """The reasoning planner: the deployment and every setting of the planner core (the
    core takes this model as it is, so there is one source of truth)."""

    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.2, max_ongoing_requests=64),
        description="Scheduling and scaling of planner replicas.",
    )
    max_problem_chars: int = Field(4000, ge=1, description="Longest problem accepted.")
    default_branches: int = Field(4, ge=1, le=16, description="Branches when unset.")
    max_branches: int = Field(16, ge=1, le=16, description="Most branches a caller may ask.")
    default_max_tokens: int = Field(
        1024, ge=16, description="Decoder token budget of a request when unset."
    )
    default_strategies: tuple[Literal["direct", "cot", "pot", "decompose"], ...] = Field(
        (),
        description="Strategies a request that names none may use; empty = all of them.",
    )
    max_tokens_limit: int = Field(8192, ge=16, description="Largest token budget accepted.")
    prune_below: float = Field(
        0.002, ge=0, le=1, description="Running branches scoring below this are pruned."
    )
    prune_below_best_fraction: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Running branches scoring below this fraction of the best completed "
        "path's score are pruned (a relative threshold, for scorers with a low base rate).",
    )
    keep_top: int = Field(16, ge=1, description="Running branches outside the top k are pruned.")
    step_tokens: StepTokensConfig = Field(
        default_factory=StepTokensConfig, description="Token limits of each decoder call."
    )
    early_stop_score: float = Field(
        0.8, ge=0, le=1, description="Completed paths agreeing at this score stop the rest."
    )
    early_stop_agree: int = Field(
        2, ge=1, description="How many agreeing strong paths stop the request early."
    )
    selection: Literal["best", "vote", "ranker"] = Field(
        "best",
        description="Answer from the best path, a score-weighted vote over distinct "
        "answers, or the answer ranker (`ranker_path`), which weighs the sampled answers "
        "side by side (and, if it was fitted with program search, every short program over "
        "the problem's quantities); with 'ranker' the waves settle on its probability.",
    )
    sample_temperatures: tuple[float, ...] = Field(
        (0.7,),
        min_length=1,
        description="Temperatures of the sampled branches (those beyond one greedy branch "
        "per strategy), used in turn; each sampled branch also has its own seed.",
    )
    verify_step: Literal["decoder", "verifier"] = Field(
        "decoder",
        description="The verify node of program branches: 'decoder' asks the model yes/no "
        "(one call); 'verifier' makes no call, the learned path verifier scores the "
        "executed program.",
    )
    initial_branches: int = Field(
        0,
        ge=0,
        le=16,
        description="Branches started at once; 0 = all of the request's branches. The rest "
        "start in waves of `wave_branches` while the answer vote is not settled.",
    )
    wave_branches: int = Field(4, ge=1, le=16, description="Branches each later wave adds.")
    settle_share: float = Field(
        0.75,
        ge=0,
        le=1,
        description="The vote is settled when the leading answer holds this share of the "
        "completed paths' total score (selection 'ranker': the ranker's probability) ...",
    )
    settle_votes: int = Field(
        3, ge=1, description="... and at least this many completed paths give it."
    )
    scorer_path: str = Field(
        "", description="Path scorer weights file; empty means the packaged default."
    )
    ranker_path: str = Field(
        "",
        description="Answer ranker weights file (selection 'ranker'); empty means the "
        "packaged default.",
    )
    adapter: str = Field(
        "",
        description="LoRA adapter (a decoder.engine.lora_adapters name) the planner's "
        "branches use when a request names none; empty means the base model. A request's "
        "adapter 'base' asks for the base model explicitly.",
    )
    model: str = Field(
        "",
        description="Decoder replica set the planner's branches use when a request names "
        "none: empty = the main decoder (with `adapter`), or the served student's name.",
    )
    cache: ScoreCacheConfig = Field(
        default_factory=ScoreCacheConfig, description="Score cache in Redis."
    )
    learning: LearningConfig = Field(
        default_factory=LearningConfig, description="Online scorer learning."
    )

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> PlannerConfig:
        if self.default_branches > self.max_branches:
            raise ValueError(
                f"default_branches ({self.default_branches}) exceeds max_branches "
                f"({self.max_branches})"
            )
        for temperature in self.sample_temperatures:
            if not 0 < temperature <= 2:
                raise ValueError(f"sample_temperatures: {temperature} is not in (0, 2]")
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError(
                f"default_max_tokens ({self.default_max_tokens}) exceeds max_tokens_limit "
                f"({self.max_tokens_limit})"
            )
        return self


class EncoderConfig(StrictModel):
    """The encoder pool: image and table encoders, projections and fusion weights."""

    enabled: bool = Field(False, description="Deploy the encoder pool (Encode/Analyze RPCs).")
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=0.5, max_ongoing_requests=64),
        description="Scheduling and scaling of encoder replicas (independent of decoders).",
    )
    weights_dir: str = Field(
        "",
        description="Folder of trained fusion weights (multimodal.safetensors + .json from "
        "`ponder train fusion`); empty means the packaged ones if present, else a "
        "deterministic untrained initialisation (reported loudly).",
    )
    image_trunk_path: str = Field(
        "",
        description="safetensors state dict of a pretrained ResNet-101 trunk; empty means a "
        "deterministic untrained initialisation (reported loudly).",
    )
    quantize: bool = Field(
        False, description="8-bit dynamic quantisation of the encoders' Linear/LSTM layers."
    )
    max_batch_size: int = Field(8, ge=1, description="Most inputs one encoder batch holds.")
    batch_wait_timeout_s: float = Field(
        0.05, ge=0, description="How long a batch waits to fill before it runs."
    )
    max_image_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest image file.")
    max_image_side: int = Field(4096, ge=1, description="Largest image width or height.")
    max_concurrent_decodes: int = Field(
        2,
        ge=1,
        description="Images/tables one encoder replica decodes at once (in worker threads, "
        "off its event loop); more wait their turn.",
    )
    max_table_cells: int = Field(2048, ge=1, description="Most cells in a table.")
    max_text_chars: int = Field(20_000, ge=1, description="Longest Analyze text.")


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
