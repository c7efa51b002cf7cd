"""Decoder deployment: one engine per replica, continuous batching across all its requests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from ray import serve

from deployments.autoscaling_policy import ENGINE_KV_CACHE_USAGE, ENGINE_RUNNING, ENGINE_WAITING
from deployments.metrics import DecoderMetrics
from ponder import env
from ponder.config import RedisConfig
from ponder.engine.protocol import DecoderEngine, EngineFactory, EngineStats
from ponder.generation import GenerationChunk, GenerationRequest, GenerationResult, join_chunks
from ponder.learning.model_registry import ModelRegistry, RefreshAdapters
from ponder.telemetry.tracing import correlate_logs, open_span, span

log = logging.getLogger("ray.serve")


def engine_load_metrics(stats: EngineStats) -> dict[str, float]:
    return {
        ENGINE_RUNNING: float(stats.running),
        ENGINE_WAITING: float(stats.waiting),
        ENGINE_KV_CACHE_USAGE: stats.kv_cache_usage,
    }


@serve.deployment(name="Decoder")
class Decoder:
    """Serves generation requests from one engine, which the factory builds in the replica."""

    async def __init__(  # type: ignore[misc]
        self, engine_factory: EngineFactory, refresh_redis: RedisConfig | None = None
    ) -> None:
        """refresh_redis: where the model registry keeps refresh adapters; with it, a
        request naming a kept refresh-<hash> adapter loads it into the engine at once."""
        correlate_logs()
        self._engine: DecoderEngine = await engine_factory.create()
        self._refresh: RefreshAdapters | None = None
        if refresh_redis is not None:
            from ponder.redis_client import connect

            registry = ModelRegistry(connect(refresh_redis))
            self._refresh = RefreshAdapters(registry, env.state_dir() / "refresh-adapters")
        self._metrics = DecoderMetrics()
        self._sampler = asyncio.get_running_loop().create_task(self._sample_load())

    async def _sample_load(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._metrics.sample_load(self._engine.stats().unfinished_requests)

    async def _load_adapter(self, request: GenerationRequest) -> None:
        """Load the refresh adapter a request names, the first time it is named (hot load:
        no restart; vLLM reads the weights on the first batch that uses them)."""
        name = request.adapter
        if name and self._refresh is not None and not self._engine.has_adapter(name):
            folder = await self._refresh.folder(name)
            self._engine.add_adapter(name, folder)
            log.info("refresh adapter %s loaded from the model registry", name)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Chunks as the engine produces them (call with handle.options(stream=True)).

        When the caller goes away, Serve cancels this generator, which aborts the request
        inside the engine.
        """
        await self._load_adapter(request)
        streaming = open_span("decoder.stream", request_id=request.request_id)
        try:
            async for chunk in self._metrics.timed(self._engine.generate(request)):
                yield chunk
        finally:
            streaming.end()

    async def complete(self, request: GenerationRequest) -> GenerationResult:
        """The whole answer in one reply."""
        await self._load_adapter(request)
        with span("decoder.complete", request_id=request.request_id) as current:
            chunks = [chunk async for chunk in self._metrics.timed(self._engine.generate(request))]
            result = join_chunks(chunks)
            current.set_attribute("ponder.completion_tokens", result.completion_tokens)
            return result

    def stats(self) -> EngineStats:
        """Load of this replica's engine."""
        return self._engine.stats()

    def record_autoscaling_stats(self) -> dict[str, float]:
        """What Serve's controller hands the autoscaling policy from this replica
        (deployments/autoscaling_policy.py): the engine's own queue, not only the
        requests Serve counts."""
        return engine_load_metrics(self._engine.stats())

    async def check_health(self) -> None:
        """Called by Serve periodically; raising marks the replica unhealthy (restarted)."""
        await self._engine.check_health()

    def __del__(self) -> None:
        sampler = getattr(self, "_sampler", None)
        if sampler is not None:
            sampler.cancel()
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.shutdown()
