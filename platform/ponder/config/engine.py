"""The decoder engines' settings (vLLM's arguments as Ponder uses them), the main decoder
set and the distilled student's."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ponder import env
from ponder.config.base import DeploymentConfig, StrictModel


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
    prefill_yield_steps: int = Field(
        0,
        ge=0,
        description="At most this many engine steps in a row, a prompt being prefilled in "
        "chunks sits out a step that a new request needs (one waiting, or before its "
        "second token), so a short request does not pay for the long prompt's chunks "
        "(ponder.engine.prefill_yield; CPU, where vLLM schedules synchronously). 0 = vLLM's "
        "own scheduler.",
    )
    lone_prefill_step_tokens: int = Field(
        0,
        ge=0,
        description="Most tokens one engine step prefills of a prompt longer than "
        "max_num_batched_tokens while it runs alone (vLLM caps a chunk only while others "
        "run): a request arriving meanwhile waits out at most such a step, and the long "
        "prompt takes more, cheaper steps (ponder.engine.prefill_yield; CPU). 0 = vLLM's "
        "full steps.",
    )
    enforce_eager: bool = Field(
        False, description="Skip torch.compile/graphs: faster start, slower decode."
    )
    enable_prefix_caching: bool = Field(True, description="Reuse KV of shared prompt prefixes.")
    block_size: int | None = Field(
        None,
        ge=16,
        description="Tokens per KV-cache block; only whole blocks of a prompt are found in "
        "the prefix cache. Unset: vLLM's default (128 on CPU, where it must be a multiple "
        "of 32; 16 on GPU).",
    )
    int8_weights: bool | Literal["auto"] = Field(
        False,
        description="Serve an 8-bit copy of the model: int8 weights per output channel, "
        "activations quantized per token (vLLM's compressed-tensors W8A8; oneDNN/AMX on "
        "CPU). Derived offline from the model folder into <model>-w8a8 on first use "
        "(ponder/int8_checkpoint.py; `ponder setup-model` derives the students' copies). "
        "true needs dtype bfloat16 or float16. 'auto' (for the CPU backend; GPU configs "
        "say true or false): the int8 copy with bfloat16 activations where the CPU "
        "multiplies int8 in hardware (AMX or VNNI; ponder/cpu_features.py), else the "
        "model as stored in `dtype` (on an AVX2-only CPU bf16 and int8 are emulated and "
        "slower than float32), decided when the engine starts. LoRA adapters run on "
        "the int8 copy as on the full-precision model (ponder/engine/vllm_cpu_fixes.py).",
    )
    engine_metrics: bool = Field(
        True,
        description="Keep vLLM's own statistics: KV-cache usage, running and waiting "
        "requests, prefix-cache hits, TTFT/TPOT histograms. In a Serve replica they are "
        "exported as Prometheus metrics (ray_vllm_*), and the decoder's autoscaling "
        "policy and load metrics read the engine's queue from them.",
    )
    enable_prompt_embeds: bool = Field(
        False, description="Accept prompt embeddings (fused multimodal prompts)."
    )
    lora_adapters: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA adapters callers may name: name -> peft folder; a relative path "
        "is inside the ponder package, where trained adapters ship (adapters/math-1234abcd).",
    )
    refresh_adapters: bool = Field(
        False,
        description="Load outcome-driven refresh adapters (`ponder train refresh`) at run "
        "time, by the version name a request carries (refresh-<hash>), from the model "
        "registry in Redis; turns vLLM's LoRA support on.",
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
    cpu_shared_gloo_device: bool = Field(
        True,
        description="CPU backend only: the gloo process groups of each engine process "
        "share one gloo device, so one TCP loop thread instead of one per group (vLLM's "
        "worker makes 13, each polling every 10 ms: about 1 300 wakeups a second from an "
        "idle engine, which preempt busy engines on the same cores).",
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
        if self.lone_prefill_step_tokens > self.max_num_batched_tokens:
            raise ValueError(
                f"lone_prefill_step_tokens ({self.lone_prefill_step_tokens}) exceeds "
                f"max_num_batched_tokens ({self.max_num_batched_tokens})"
            )
        if self.prefill_yield_steps and not self.long_prefill_token_threshold:
            raise ValueError(
                "prefill_yield_steps needs long_prefill_token_threshold: without the cap a "
                "long prompt is not prefilled in chunks beside others, so it has no step to "
                "give up"
            )
        if self.int8_weights is True and self.dtype not in ("bfloat16", "float16"):
            raise ValueError(
                "int8_weights needs dtype bfloat16 or float16: vLLM's int8 kernels take "
                "16-bit activations (the int8 weights are scaled back into them)"
            )
        return self

    def prompt_token_cap(self) -> int:
        """The longest prompt accepted, in tokens."""
        return self.max_prompt_tokens or self.max_model_len - 1

    def source_model_path(self) -> Path:
        """The model folder this config names (before any derived copy)."""
        return Path(self.model).resolve() if self.model else env.default_model_dir()

    def int8_here(self) -> bool:
        """Whether the engine serves the int8 copy on this machine ('auto' decided)."""
        if self.int8_weights == "auto":
            from ponder.cpu_features import has_int8_dot

            return has_int8_dot()
        return bool(self.int8_weights)

    def for_this_machine(self) -> EngineConfig:
        """This config with 'auto' decided for the machine the engine starts on: the int8
        copy with bfloat16 activations, or the model as stored in `dtype`."""
        if self.int8_weights != "auto":
            return self
        if self.int8_here():
            return self.model_copy(update={"int8_weights": True, "dtype": "bfloat16"})
        return self.model_copy(update={"int8_weights": False})

    def model_path(self) -> Path:
        """The folder the engine loads: the named one, or its int8 copy."""
        source = self.source_model_path()
        return source.with_name(source.name + "-w8a8") if self.int8_here() else source

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


class DecoderRouting(StrictModel):
    """How callers (planner, ingress) pick a replica of a decoder set."""

    policy: Literal["power_of_two", "prefix_affinity"] = Field(
        "power_of_two",
        description="power_of_two: Serve's default (the less loaded of two random "
        "replicas). prefix_affinity: calls with the same affinity key (a Reason's branches, "
        "a repeated prompt's beginning) go to the same replica, where vLLM's prefix cache "
        "holds their prompt, unless it is max_imbalance requests busier "
        "(deployments/prefix_router.py). Measured on CPU with 2 replicas it did not beat "
        "power_of_two (BENCHMARKS.md), so it is not the default.",
    )
    max_imbalance: int = Field(
        16,
        ge=1,
        description="prefix_affinity: queued requests by which the preferred replica may "
        "exceed the least busy one before load wins over affinity.",
    )


class DecoderConfig(StrictModel):
    """The decoder replica set."""

    engine: EngineConfig = Field(default_factory=EngineConfig, description="vLLM engine args.")
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=1.0, max_ongoing_requests=128),
        description="Scheduling and scaling of decoder replicas.",
    )
    routing: DecoderRouting = Field(
        default_factory=DecoderRouting, description="How callers pick a decoder replica."
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
        "student's derived folder. No named LoRA adapters; refresh adapters may be on.",
    )
    deployment: DeploymentConfig = Field(
        default_factory=lambda: DeploymentConfig(num_cpus=1.0, max_ongoing_requests=128),
        description="Scheduling and scaling of student replicas.",
    )
    routing: DecoderRouting = Field(
        default_factory=DecoderRouting, description="How callers pick a student replica."
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
